"""The what-if over a range of days, read from the stores: one path for the asset and the
``whatif`` command.

Takes any raw store (``read(start, end, fields=)``) and warehouse (``read_frame(sql,
params)``) and reads exactly what ``daily_energy_report`` reads for the same days (plus
the market price and zone of each quarter hour, and the battery sessions up to the last
day, from which the battery's limits are learned).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from goodwe_pipeline.common import days as days_mod
from goodwe_pipeline.prices.tariffs import Tariff
from goodwe_pipeline.readings import DEVICE_ID
from goodwe_pipeline.reports.daily import READING_FIELDS
from goodwe_pipeline.reports.quality import Limits
from goodwe_pipeline.whatif.battery import BatteryLimits, learn_limits
from goodwe_pipeline.whatif.catalogue import Catalogue
from goodwe_pipeline.whatif.costs import Comparison, compare
from goodwe_pipeline.whatif.quarter_hours import measured_days

READ_MARGIN = timedelta(hours=1)
"""Read past both ends of the days, so counters bridge midnight (as the daily report does)."""
PRICES_SQL = (
    "SELECT time_start, time_end, buy_pln_kwh, sell_pln_kwh, market_pln_kwh, zone "
    "FROM electricity_prices WHERE time_end > :start AND time_start < :end ORDER BY time_start"
)
SESSIONS_SQL = (
    "SELECT device_id, kind, status, energy_kwh, soc_start, soc_end, duration_s "
    "FROM battery_sessions WHERE partition_date <= :last"
)


@dataclass(frozen=True)
class WhatIf:
    comparison: Comparison
    limits: dict[str, BatteryLimits]
    readings: int


def what_if(
    raw_store: Any,
    warehouse: Any,
    days: Sequence[date],
    tz: str,
    catalogue: Catalogue,
    owner: Tariff,
    *,
    now: datetime,
    limits: Limits | None = None,
    gap_factor: float = 2.0,
) -> WhatIf:
    start, end = days_mod.range_window(days[0], days[-1], tz)
    readings = raw_store.read(
        start - READ_MARGIN, min(end + READ_MARGIN, now + READ_MARGIN), fields=READING_FIELDS
    )
    prices = warehouse.read_frame(PRICES_SQL, {"start": start, "end": end})
    sessions = warehouse.read_frame(SESSIONS_SQL, {"last": days[-1]})
    measured = measured_days(
        readings, prices, days, tz, limits=limits, gap_factor=gap_factor, now=now
    )
    devices = sorted(measured.days[DEVICE_ID].unique())
    learned = {d: learn_limits(sessions[sessions[DEVICE_ID] == d]) for d in devices}
    return WhatIf(compare(measured, catalogue, owner, learned), learned, len(readings))
