"""Quarter-hour day-ahead prices for the demo: a Polish autumn shape, deterministic per seed.

Cheap nights, a morning shoulder, a midday dip and an evening peak, scaled per
day by a slow random walk (windy days are cheap, weekends a little cheaper).
Written as a CSV that ``GOODWE_PRICE_SOURCE=csv:<path>`` reads (see
``price_sources``): ``time_start``/``time_end`` in local time with their UTC
offset, ``market_pln_mwh`` and the net-billing export price ``rce_pln_mwh``.
"""

from __future__ import annotations

import math
import random
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from goodwe_pipeline.common import days
from goodwe_pipeline.prices.quarter_hours import quarter_hours

CSV_COLUMNS = ("time_start", "time_end", "market_pln_mwh", "rce_pln_mwh")


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2) / 2)


def shape_pln_mwh(hour: float) -> float:
    """The typical market price at a local hour of an autumn weekday."""
    return (
        470.0
        + 330.0 * _bump(hour, 18.5, 1.7)
        + 150.0 * _bump(hour, 8.0, 1.2)
        - 130.0 * _bump(hour, 3.0, 1.8)
        - 60.0 * _bump(hour, 13.0, 1.5)
        - 90.0 * _bump(hour, 23.5, 1.0)
    )


def quarter_hour_prices(first: date, last: date, tz: str, seed: int) -> pd.DataFrame:
    """Market and RCE prices (PLN/MWh) for every quarter hour of ``first``..``last`` (local days).

    Columns ``time_start``, ``time_end`` (UTC), ``market_pln_mwh``, ``rce_pln_mwh``;
    DST days have 92 or 100 rows.
    """
    rng = random.Random(seed * 7919 + 17)
    zone = ZoneInfo(tz)
    level = 1.0
    rows = []
    for day in days.iter_days(first, last):
        level = min(max(level * math.exp(rng.gauss(0, 0.12)), 0.7), 1.35)
        windy = rng.random() < 0.12
        factor = level * (0.6 if windy else 1.0) * (0.9 if day.weekday() >= 5 else 1.0)
        for start in quarter_hours(day, tz):
            local = start.to_pydatetime().astimezone(zone)
            hour = local.hour + local.minute / 60
            market = shape_pln_mwh(hour) * factor + rng.gauss(0, 18)
            rce = market * 0.96 + rng.gauss(0, 12)
            rows.append((start, start + pd.Timedelta(minutes=15), round(market, 2), round(rce, 2)))
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def write_price_csv(prices: pd.DataFrame, path: Path, tz: str) -> None:
    """The prices as CSV, times written as local wall time with their offset."""
    out = prices.copy()
    for column in ("time_start", "time_end"):
        out[column] = out[column].dt.tz_convert(tz).map(lambda t: t.isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, columns=list(CSV_COLUMNS))
