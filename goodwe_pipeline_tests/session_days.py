"""Synthetic readings for battery-session tests, built from segments of constant power.

Times are wall-clock local times, so DST days are what the owner sees: a
charge from 01:00 to 04:00 lasts 2 real hours on the spring day and 4 on the
autumn day. Counters and SOC are exact running sums of the same powers (each
reading's power held until the next reading).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from goodwe_pipeline.readings import normalize

TZ = "Europe/Warsaw"
CAPACITY_KWH = 10.0


def at(day: date, clock: str, tz: str = TZ) -> datetime:
    """Local wall-clock time ``HH:MM[:SS]`` of ``day`` (first occurrence of a repeated hour)."""
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=ZoneInfo(tz))


def later(day: date, clock: str, tz: str = TZ) -> datetime:
    """The second occurrence of a wall-clock time repeated by the autumn DST change."""
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=ZoneInfo(tz)).replace(fold=1)


@dataclass(frozen=True)
class Segment:
    """Constant powers over ``[start, end)``; W, battery + discharge, grid + export."""

    start: datetime
    end: datetime
    battery_w: float
    grid_w: float | None = None
    pv_w: float = 0.0

    def grid(self) -> float:
        # Without a grid value the battery exchanges with the grid alone (load 0).
        return self.battery_w + self.pv_w if self.grid_w is None else self.grid_w


def readings(
    start: datetime,
    end: datetime,
    segments: Sequence[Segment] = (),
    *,
    cadence_s: float = 10.0,
    device_id: str = "SN-TEST",
    soc_start: float = 20.0,
    counters: bool = True,
    counter_base_kwh: float = 500.0,
    gaps: Sequence[tuple[datetime, datetime]] = (),
) -> pd.DataFrame:
    """Readings every ``cadence_s`` in ``[start, end)``, idle outside the segments.

    ``gaps`` remove readings after counters and SOC were computed, as a lost
    connection would: the inverter's counters still carry the gap's energy.
    """
    first = pd.Timestamp(start).tz_convert("UTC")
    count = int(round((pd.Timestamp(end) - first).total_seconds() / cadence_s))
    times = first + pd.to_timedelta(np.arange(count) * cadence_s, unit="s")
    battery = np.zeros(count)
    grid = np.zeros(count)
    pv = np.zeros(count)
    for seg in segments:
        inside = (times >= pd.Timestamp(seg.start)) & (times < pd.Timestamp(seg.end))
        battery[inside] = seg.battery_w
        grid[inside] = seg.grid()
        pv[inside] = seg.pv_w
    held = np.full(count, cadence_s)
    charged = np.concatenate([[0.0], np.cumsum(np.clip(-battery, 0, None) * held)[:-1]]) / 3.6e6
    discharged = np.concatenate([[0.0], np.cumsum(np.clip(battery, 0, None) * held)[:-1]]) / 3.6e6
    frame = pd.DataFrame(
        {
            "time": times,
            "device_id": device_id,
            "source": "inverter",
            "battery_power_w": battery,
            "grid_power_w": grid,
            "pv_power_w": pv,
            "load_power_w": pv + battery - grid,
            "battery_soc_pct": soc_start + (charged - discharged) / CAPACITY_KWH * 100.0,
        }
    )
    if counters:
        frame["battery_charge_total_kwh"] = counter_base_kwh + charged
        frame["battery_discharge_total_kwh"] = counter_base_kwh + discharged
    for gap_start, gap_end in gaps:
        keep = (frame["time"] < pd.Timestamp(gap_start)) | (frame["time"] >= pd.Timestamp(gap_end))
        frame = frame[keep]
    return normalize(frame)


def quarter_prices(
    start: datetime,
    end: datetime,
    buy: float = 1.0,
    sell: float = 0.3,
    special: Sequence[tuple[datetime, datetime, float, float]] = (),
) -> pd.DataFrame:
    """Quarter-hour price rows over ``[start, end)``; ``special`` spans get their own prices."""
    starts = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="15min", inclusive="left")
    starts = starts.tz_convert("UTC")
    frame = pd.DataFrame(
        {
            "time_start": starts,
            "time_end": starts + pd.Timedelta(minutes=15),
            "buy_pln_kwh": buy,
            "sell_pln_kwh": sell,
        }
    )
    for span_start, span_end, span_buy, span_sell in special:
        inside = (frame["time_start"] >= pd.Timestamp(span_start)) & (
            frame["time_start"] < pd.Timestamp(span_end)
        )
        frame.loc[inside, ["buy_pln_kwh", "sell_pln_kwh"]] = [span_buy, span_sell]
    return frame


def next_day(day: date) -> date:
    return day + timedelta(days=1)
