"""The what-if over a range of days, from the frames the stores hold (``whatif.from_stores``
reads them for the asset and the ``whatif`` command): the readings of the first of ``spans``
(what ``daily_energy_report`` reads for the same days), the prices of the second (with the
market price and zone of each quarter hour) and the battery sessions up to the last day, from
which the battery's limits are learned. This module touches no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from goodwe_pipeline.common import days as days_mod
from goodwe_pipeline.prices.tariffs import Tariff
from goodwe_pipeline.readings import DEVICE_ID
from goodwe_pipeline.reports.daily import readings_window
from goodwe_pipeline.reports.quality import Limits
from goodwe_pipeline.whatif.battery import BatteryLimits, learn_limits
from goodwe_pipeline.whatif.catalogue import Catalogue
from goodwe_pipeline.whatif.costs import Comparison, compare
from goodwe_pipeline.whatif.quarter_hours import measured_days

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class WhatIf:
    comparison: Comparison
    limits: dict[str, BatteryLimits]
    readings: int


def spans(days: Sequence[date], tz: str, now: datetime) -> tuple[Span, Span]:
    """What a what-if over ``days`` reads: the readings' ``[start, end)`` (those the daily
    report reads for the same days) and the prices' (the days)."""
    return readings_window(days[0], days[-1], tz, now), days_mod.range_window(days[0], days[-1], tz)


def what_if(
    readings: pd.DataFrame,
    prices: pd.DataFrame,
    sessions: pd.DataFrame,
    days: Sequence[date],
    tz: str,
    catalogue: Catalogue,
    owner: Tariff,
    *,
    now: datetime,
    limits: Limits | None = None,
    gap_factor: float = 2.0,
) -> WhatIf:
    measured = measured_days(
        readings, prices, days, tz, limits=limits, gap_factor=gap_factor, now=now
    )
    devices = sorted(measured.days[DEVICE_ID].unique())
    learned = {d: learn_limits(sessions[sessions[DEVICE_ID] == d]) for d in devices}
    return WhatIf(compare(measured, catalogue, owner, learned), learned, len(readings))
