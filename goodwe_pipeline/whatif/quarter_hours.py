"""Each day's measured energies per quarter hour, with the prices the what-if needs.

The energies are ``reports.daily_energy``'s quarter hours (the same numbers the daily
report prices), so "as measured" under the owner's current tariff is the daily report's
net cost. A day is usable only when it is over, its readings cover at least
``MIN_COVERAGE_PCT`` of it and every quarter hour with energy has a price; other days are
skipped with the reason, never filled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from goodwe_pipeline.common import days as days_mod
from goodwe_pipeline.readings import DEVICE_ID, TIME
from goodwe_pipeline.reports.daily import QUANTITIES, QUARTER_S, daily_energy, slot_values
from goodwe_pipeline.reports.quality import Limits

MIN_COVERAGE_PCT = 90.0
SOC_REACH_S = 900.0
"""The charge level at midnight is the reading nearest to it within this many seconds."""
ENERGY_COLUMNS = tuple(q.column for q in QUANTITIES)
"""pv, load, grid import/export, battery charge/discharge, kWh per quarter hour."""


@dataclass(frozen=True)
class MeasuredDays:
    """``quarters``: one row per usable (device, day) and quarter hour, in order, with
    ``ENERGY_COLUMNS``, ``buy_pln_kwh``, ``sell_pln_kwh`` (stored prices),
    ``market_pln_kwh``, ``zone``, ``local_time``; ``days``: one row per usable (device,
    day) with ``soc_start_pct`` (NaN when unknown) and the daily report's
    ``net_cost_pln``; ``skipped``: (device or None, day, reason) of the other days."""

    quarters: pd.DataFrame
    days: pd.DataFrame
    skipped: list[tuple[str | None, date, str]]


def measured_days(
    readings: pd.DataFrame,
    prices: pd.DataFrame,
    days: Sequence[date],
    tz: str,
    *,
    limits: Limits | None = None,
    gap_factor: float = 2.0,
    now: datetime | None = None,
) -> MeasuredDays:
    result = daily_energy(readings, prices, days, tz, limits=limits, now=now, gap_factor=gap_factor)
    frame = result.days
    skipped: list[tuple[str | None, date, str]] = []
    seen = set(frame["day"])
    skipped += [(None, d, "no readings") for d in days if d not in seen]
    reasons = pd.Series("", index=frame.index, dtype=object)
    if now is not None:
        ends = np.array([days_mod.day_window(d, tz)[1] > now for d in frame["day"]], dtype=bool)
        reasons[ends] = "the day is not over"
    low = (frame["coverage_pct"] < MIN_COVERAGE_PCT) & (reasons == "")
    reasons[low] = [
        f"readings cover {c:.0f} % of the day (at least {MIN_COVERAGE_PCT:.0f} % needed)"
        for c in frame.loc[low, "coverage_pct"]
    ]
    unpriced = ((frame["unpriced_quarters"] > 0) | frame["net_cost_pln"].isna()) & (reasons == "")
    reasons[unpriced] = [
        f"{n} quarter hours with energy have no price" if n else "the day has no prices"
        for n in frame.loc[unpriced, "unpriced_quarters"]
    ]
    bad = reasons != ""
    skipped += [
        (str(dev), d, r)
        for dev, d, r in zip(
            frame.loc[bad, DEVICE_ID], frame.loc[bad, "day"], reasons[bad], strict=True
        )
    ]
    good = frame.loc[~bad, [DEVICE_ID, "day", "net_cost_pln"]].reset_index(drop=True)
    keys = pd.MultiIndex.from_frame(good[[DEVICE_ID, "day"]])
    q = result.quarters
    q = q[pd.MultiIndex.from_frame(q[[DEVICE_ID, "day"]]).isin(keys)].reset_index(drop=True)
    micros = q["time_start"].dt.as_unit("us").astype("int64").to_numpy()
    slots = micros // int(QUARTER_S * 1_000_000)
    extra = prices.copy()
    if "market_pln_kwh" not in extra:
        extra["market_pln_kwh"] = np.nan
    extra["market_pln_kwh"] = extra["market_pln_kwh"].astype("float64")
    if "zone" not in extra:
        extra["zone"] = None
    found = slot_values(extra, slots, ("market_pln_kwh", "zone"))
    q["market_pln_kwh"] = found["market_pln_kwh"]
    q["zone"] = found["zone"]
    q["local_time"] = q["time_start"].dt.tz_convert(tz)
    good["soc_start_pct"] = _levels_at_midnight(readings, good, tz)
    return MeasuredDays(q, good, skipped)


def _levels_at_midnight(readings: pd.DataFrame, good: pd.DataFrame, tz: str) -> np.ndarray:
    """Battery charge level (%) of the reading nearest each day's local midnight, within
    ``SOC_REACH_S``; NaN when no reading with a level is that close. ``readings`` are
    sorted by device and time (``readings.normalize``), so each device's midnights are
    looked up in its own readings, not every reading against every midnight."""
    out = np.full(len(good), np.nan)
    if good.empty or "battery_soc_pct" not in readings or readings.empty:
        return out
    device_all = readings[DEVICE_ID].to_numpy()
    soc_all = readings["battery_soc_pct"].to_numpy("float64")
    for device, rows in good.groupby(DEVICE_ID):
        lo = np.searchsorted(device_all, device, side="left")
        hi = np.searchsorted(device_all, device, side="right")
        mine = lo + np.flatnonzero(~np.isnan(soc_all[lo:hi]))
        if len(mine) == 0:
            continue
        t = readings[TIME].iloc[mine].dt.as_unit("us").astype("int64").to_numpy() / 1e6
        soc = soc_all[mine]
        midnight = np.array([days_mod.day_window(d, tz)[0].timestamp() for d in rows["day"]])
        after = np.clip(np.searchsorted(t, midnight), 0, len(t) - 1)
        before = np.clip(after - 1, 0, len(t) - 1)
        nearest = np.where(
            np.abs(t[before] - midnight) <= np.abs(t[after] - midnight), before, after
        )
        close = np.abs(t[nearest] - midnight) <= SOC_REACH_S
        out[rows.index.to_numpy()] = np.where(close, soc[nearest], np.nan)
    return out
