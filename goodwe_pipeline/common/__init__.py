"""Small helpers every layer uses: local days, settings from the environment, URL credentials, SQLite WAL, the pipeline's configuration record, pausing the cyclic garbage collector for bulk work."""
