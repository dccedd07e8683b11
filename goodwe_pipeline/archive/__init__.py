"""The cold copy: every day's raw readings as zstd Parquet files, and their restore."""
