"""Reading what the GoodWe Dynamic Price Optimiser left on disk (no Dagster here).

``formats`` recognises and parses each file type, ``timestamps`` turns its
local wall-clock times into UTC, ``mapping`` maps a reading onto the canonical
fields, ``index`` remembers which file holds which days, ``decisions`` reads
decisions, plans and selling sessions, and ``migrate`` runs a date range into
the raw store and the warehouse.
"""
