"""Whether the stores, the spool and the disk are well."""
