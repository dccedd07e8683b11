"""A day's time axis: its quarter hours in UTC, drawn in local clock time.

A day is the span from local midnight to local midnight, so the 23- and 25-hour DST days
keep their real length (the 25-hour day shows the repeated hour twice on its axis).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from goodwe_pipeline.charts.render import matplotlib_agg
from goodwe_pipeline.common import days

if TYPE_CHECKING:
    from matplotlib.axes import Axes

QUARTER = pd.Timedelta(minutes=15)


def day_slots(day: date, tz: str) -> pd.DatetimeIndex:
    """The UTC starts of the day's quarter hours (92, 96 or 100 of them)."""
    start, end = days.day_window(day, tz)
    return pd.date_range(start, end, freq=QUARTER, inclusive="left")


def as_numbers(times: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """UTC instants as matplotlib date numbers."""
    index = pd.DatetimeIndex(times)
    return matplotlib_agg().dates.date2num(
        index.tz_convert("UTC").tz_localize(None).to_pydatetime()
    )


def local_hours_axis(ax: Axes, day: date, tz: str) -> None:
    """Limit ``ax`` to the local day and label it in local clock time every 3 hours."""
    start, end = days.day_window(day, tz)
    ax.set_xlim(*as_numbers(pd.DatetimeIndex([start, end])))
    zone = ZoneInfo(tz)
    mdates = matplotlib_agg().dates
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3), tz=zone))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
