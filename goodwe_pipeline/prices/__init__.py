"""Quarter-hour prices: the day's price table, tariffs and VAT, where prices come from (PSE, CSV, fixed)."""
