"""Reading what the GoodWe Dynamic Price Optimiser left on disk (no Dagster here).

``formats`` recognises each file type by name, ``decode`` turns a file's bytes into raw
records, ``records`` maps them onto readings (through ``timestamps``, which turns local
wall-clock times into UTC, and ``mapping``, the canonical fields), ``snapshots`` skips
what consecutive snapshots repeat and ``readers`` reads one file with them. ``index``
remembers which file holds which days, ``decisions`` reads decisions, plans and selling
sessions, and ``readings_migration`` and ``decisions_migration`` run a date range into the
raw store and the warehouse.
"""
