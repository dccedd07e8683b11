"""Data quality of canonical readings and daily reports, per device and local day.

Shared by the readings checks and the daily report: the physical limits that make
a value impossible, the day index of each reading, the sampling cadence and the
coverage of a day (vectorised over all days at once); and the report checks'
comparisons: energy balance, counters against integrated powers. No Dagster import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from goodwe_pipeline.common import days as days_mod
from goodwe_pipeline.readings import (
    DAILY_COUNTERS,
    DEVICE_ID,
    FIELD_NAMES,
    LIFETIME_COUNTERS,
    SOURCE,
    TIME,
)

DEFAULT_RATED_POWER_W = 10_000.0
SOC_FIELDS: tuple[str, ...] = ("battery_soc_pct",)
POWER_FIELDS: tuple[str, ...] = (
    "pv_power_w",
    "pv1_power_w",
    "pv2_power_w",
    "battery_power_w",
    "grid_power_w",
    "load_power_w",
)
TEMPERATURE_FIELDS: tuple[str, ...] = ("battery_temperature_c", "inverter_temperature_c")
SOC_RANGE = (0.0, 100.0)
TEMPERATURE_RANGE = (-40.0, 100.0)
POWER_FACTOR = 3.0
"""A power beyond this many times the rated power is a bad frame, not physics."""

COVERAGE_WARN_PCT = 95.0
COVERAGE_ERROR_PCT = 50.0
MIN_CADENCE_S = 1.0
BALANCE_LIMIT_PCT = 10.0
AGREEMENT_LIMIT_PCT = 10.0
MIN_COMPARED_KWH = 1.0
"""Below this, differences are counter resolution (0.1 kWh steps), not disagreement."""


KWH_PER_WS = 1.0 / 3.6e6
COUNTER_RESOLUTION_KWH = 0.2
"""Slack on counter plausibility: GoodWe counters step in 0.1 kWh."""


@dataclass(frozen=True)
class Limits:
    """What a reading can physically be; ``rated_power_w`` from ``GOODWE_RATED_POWER_W``."""

    rated_power_w: float = DEFAULT_RATED_POWER_W

    @property
    def max_power_w(self) -> float:
        return POWER_FACTOR * self.rated_power_w

    def max_counter_step_kwh(self, seconds: np.ndarray) -> np.ndarray:
        """The most an energy counter can add in ``seconds``: the largest power for that long,
        plus the counter's resolution. A drop to at most this is a reset, not a glitch."""
        return self.max_power_w * KWH_PER_WS * seconds + COUNTER_RESOLUTION_KWH


FIELD_RANGES: dict[str, tuple[float, float]] = {
    "battery_soc_pct": SOC_RANGE,
    "battery_soh_pct": (0.0, 100.0),
    "battery_temperature_c": TEMPERATURE_RANGE,
    "inverter_temperature_c": TEMPERATURE_RANGE,
    "battery_voltage_v": (0.0, 1000.0),
    "battery_current_a": (-1000.0, 1000.0),
    "grid_voltage_v": (0.0, 1000.0),
    "grid_frequency_hz": (0.0, 100.0),
    "battery_mode": (0.0, 65535.0),
    "work_mode": (0.0, 65535.0),
    "inverter_clock_skew_s": (-1.0e10, 1.0e10),
    **{name: (0.0, 1.0e7) for name in LIFETIME_COUNTERS},
}
"""Fixed physical ranges (inclusive). Batteries of home systems run below 1000 V and
1000 A, grids at up to 1000 V and 100 Hz (0 when the grid is down); modes are 16-bit
register codes; a lifetime counter never reaches 10 GWh; an inverter's clock may be years
off (a reset clock), never centuries. Powers and daily counters
depend on the rated power (``Limits``)."""
HOURS_PER_DAY_MAX = 25.0
"""The longest local day (the autumn change): the most hours a daily counter can count."""


def field_range(name: str, limits: Limits) -> tuple[float, float]:
    """The physical range of ``name`` (every reading field has one)."""
    if name in POWER_FIELDS:
        return (-limits.max_power_w, limits.max_power_w)
    if name in DAILY_COUNTERS:
        return (0.0, limits.max_power_w * HOURS_PER_DAY_MAX / 1000.0)
    return FIELD_RANGES[name]


def impossible_masks(readings: pd.DataFrame, limits: Limits) -> dict[str, np.ndarray]:
    """Per reading field present in ``readings``, a boolean array: True where the value is
    outside its physical range (``field_range``); NaN (unknown) is not impossible."""
    masks: dict[str, np.ndarray] = {}
    for name in FIELD_NAMES:
        if name not in readings:
            continue
        low, high = field_range(name, limits)
        values = readings[name].to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            masks[name] = (values < low) | (values > high)
    return masks


def without_impossible(readings: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """A copy with impossible values replaced by NaN (unknown), the rest untouched."""
    masks = impossible_masks(readings, limits)
    if not any(mask.any() for mask in masks.values()):
        return readings
    out = readings.copy()
    for name, mask in masks.items():
        if mask.any():
            out[name] = out[name].mask(mask)
    return out


def time_seconds(readings: pd.DataFrame) -> np.ndarray:
    """Reading times as float seconds since the epoch."""
    return readings[TIME].dt.as_unit("us").array.asi8 / 1e6


@dataclass(frozen=True)
class DayGrid:
    """Local days as UTC windows, and the day of each reading (``-1``: outside every day)."""

    days: tuple[date, ...]
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def build(cls, days: Sequence[date], tz: str) -> DayGrid:
        ordered = tuple(sorted(set(days)))
        windows = [days_mod.day_window(day, tz) for day in ordered]
        starts = np.array([w[0].timestamp() for w in windows], dtype="float64")
        ends = np.array([w[1].timestamp() for w in windows], dtype="float64")
        return cls(ordered, starts, ends)

    def index(self, seconds: np.ndarray) -> np.ndarray:
        if not self.days:
            return np.full(len(seconds), -1, dtype="int64")
        idx = np.searchsorted(self.starts, seconds, side="right") - 1
        inside = (idx >= 0) & (seconds < self.ends[np.clip(idx, 0, None)])
        return np.where(inside, idx, -1)

    def window_seconds(self, now: datetime | None) -> np.ndarray:
        """Seconds of each day that have elapsed by ``now`` (whole days when ``now`` is None)."""
        ends = self.ends if now is None else np.minimum(self.ends, now.timestamp())
        return np.clip(ends - self.starts, 0.0, None)


@dataclass(frozen=True)
class Intervals:
    """Consecutive readings of one device: ``dt[i]`` is the time to the next reading (NaN at
    the last reading of a device), grouped by device code and day index."""

    seconds: np.ndarray
    device_codes: np.ndarray
    devices: tuple[str, ...]
    day: np.ndarray
    dt: np.ndarray

    @classmethod
    def build(cls, readings: pd.DataFrame, grid: DayGrid) -> Intervals:
        seconds = time_seconds(readings)
        codes, uniques = pd.factorize(readings[DEVICE_ID], sort=True)
        dt = np.full(len(seconds), np.nan)
        if len(seconds) > 1:
            same = codes[1:] == codes[:-1]
            dt[:-1] = np.where(same, np.diff(seconds), np.nan)
        return cls(
            seconds=seconds,
            device_codes=codes.astype("int64"),
            devices=tuple(str(u) for u in uniques),
            day=grid.index(seconds),
            dt=dt,
        )

    def group_keys(self, n_days: int) -> np.ndarray:
        """``device * n_days + day`` for rows inside a day, else -1."""
        return np.where(self.day >= 0, self.device_codes * n_days + self.day, -1)


def cadence_by_group(intervals: Intervals, keys: np.ndarray) -> pd.Series:
    """Median spacing of readings per group key (the sampling cadence, seconds)."""
    valid = (keys >= 0) & np.isfinite(intervals.dt) & (intervals.dt > 0)
    if not valid.any():
        return pd.Series(dtype="float64")
    frame = pd.DataFrame({"key": keys[valid], "dt": intervals.dt[valid]})
    return frame.groupby("key")["dt"].median().clip(lower=MIN_CADENCE_S)


def day_quality(
    readings: pd.DataFrame,
    days: Sequence[date],
    tz: str,
    limits: Limits,
    *,
    now: datetime | None = None,
) -> pd.DataFrame:
    """One row per (device_id, day) that has readings, plus one row with ``device_id`` None
    for each day that has none.

    Columns: ``samples``, ``cadence_s``, ``coverage_pct`` (samples present out of those
    expected at the cadence over the elapsed part of the day), ``duplicates`` (readings
    closer than half the cadence to the previous one, the same instant recorded twice),
    ``counter_decreases`` (lifetime counters lower than their previous value) and
    ``impossible_<field>`` counts.
    """
    grid = DayGrid.build(days, tz)
    n_days = len(grid.days)
    intervals = Intervals.build(readings, grid)
    keys = intervals.group_keys(n_days)
    inside = keys >= 0
    columns: dict[str, np.ndarray] = {"key": keys[inside]}

    prev_dt = np.full(len(keys), np.nan)
    prev_dt[1:] = intervals.dt[:-1]
    cadence = cadence_by_group(intervals, keys)
    row_cadence = cadence.reindex(keys[inside]).to_numpy()
    columns["duplicate"] = (prev_dt[inside] < 0.5 * np.nan_to_num(row_cadence, nan=np.inf)) | (
        prev_dt[inside] == 0
    )

    decreases = np.zeros(len(keys), dtype="int64")
    for name in LIFETIME_COUNTERS:
        decreases += _counter_decreases(readings[name].to_numpy("float64"), intervals)
    columns["counter_decreases"] = decreases[inside]

    masks = impossible_masks(readings, limits)
    for name, mask in masks.items():
        columns[f"impossible_{name}"] = mask[inside]

    frame = pd.DataFrame(columns)
    grouped = frame.groupby("key")
    out = grouped.sum()
    out["samples"] = grouped.size()
    out["duplicates"] = out.pop("duplicate")
    out["cadence_s"] = cadence.reindex(out.index)
    elapsed = grid.window_seconds(now)
    day_idx = (out.index.to_numpy() % max(n_days, 1)).astype("int64")
    expected = elapsed[day_idx] / out["cadence_s"].to_numpy()
    out["coverage_pct"] = np.where(
        expected > 0, np.minimum(100.0, 100.0 * out["samples"] / np.maximum(expected, 1)), 0.0
    )
    device_idx = (out.index.to_numpy() // max(n_days, 1)).astype("int64")
    out.insert(0, "day", [grid.days[i] for i in day_idx])
    out.insert(0, DEVICE_ID, [intervals.devices[i] for i in device_idx])
    out = out.reset_index(drop=True)

    seen_days = set(out["day"])
    missing = [
        day
        for i, day in enumerate(grid.days)
        if day not in seen_days and grid.window_seconds(now)[i] > 0
    ]
    if missing:
        empty = pd.DataFrame({DEVICE_ID: [None] * len(missing), "day": missing})
        empty["samples"] = 0
        empty["coverage_pct"] = 0.0
        out = pd.concat([out, empty], ignore_index=True)
    int_columns = ["samples", "duplicates", "counter_decreases"] + [
        f"impossible_{name}" for name in masks
    ]
    for column in int_columns:
        out[column] = out[column].fillna(0).astype("int64")
    return out.sort_values(["day", DEVICE_ID], na_position="first").reset_index(drop=True)


def _counter_decreases(values: np.ndarray, intervals: Intervals) -> np.ndarray:
    """1 at each reading whose counter is lower than the device's previous known value."""
    out = np.zeros(len(values), dtype="int64")
    idx = np.flatnonzero(~np.isnan(values))
    if len(idx) < 2:
        return out
    same = intervals.device_codes[idx[1:]] == intervals.device_codes[idx[:-1]]
    lower = np.diff(values[idx]) < 0
    out[idx[1:][same & lower]] = 1
    return out


SOC_STEP_PCT = 2.0
"""Slack on battery-charge changes: the inverter reports whole percent, and a BMS nudges
its estimate by a point or so when it recalibrates."""
SEVERE_SOC_EXCESS_PCT = 25.0
"""A battery charge change this many points beyond what the battery's power allows (a
quarter of the battery appearing or vanishing) is severe."""
SEVERE_CHANGES_PER_DAY = 5
"""This many implausible changes in one device's day is severe too."""
IMPLAUSIBLE_COLUMNS = (
    DEVICE_ID,
    SOURCE,
    "time",
    "previous_time",
    "field",
    "previous",
    "value",
    "allowed_change",
    "severe",
)


def implausible_changes(
    readings: pd.DataFrame,
    days: Sequence[date],
    tz: str,
    limits: Limits,
    battery_capacity_kwh: float,
) -> pd.DataFrame:
    """Changes between a device's consecutive readings that its hardware cannot make, one
    row per instant (``IMPLAUSIBLE_COLUMNS``, in time order):

    - a lifetime counter lower than its previous known value within the same local day
      (``allowed_change`` 0). A drop to near zero (a reset: at most what the rated power
      adds in the time between, plus 0.2 kWh) is not one;
    - a battery charge that moves more than the battery's power allows between two
      readings: ``allowed_change`` is the rated power (``Limits.rated_power_w``, the most
      a hybrid inverter moves in or out of its battery) for the time between, as percent
      of ``battery_capacity_kwh``, plus ``SOC_STEP_PCT``.

    ``severe`` marks a change beyond ``allowed_change`` by ``SEVERE_SOC_EXCESS_PCT``
    points, and every change of a device's day that has ``SEVERE_CHANGES_PER_DAY`` or
    more. Counter steps alone are never severe: the daily report reads counters
    through their never-decreasing readings (``reports.counters.monotone_readings``).
    """
    grid = DayGrid.build(days, tz)
    intervals = Intervals.build(readings, grid)
    seconds, device, day = intervals.seconds, intervals.device_codes, intervals.day
    found: list[pd.DataFrame] = []
    kwh_per_pct = battery_capacity_kwh / 100.0
    times = readings[TIME].array
    checks = [(name, False) for name in LIFETIME_COUNTERS if name in readings]
    if "battery_soc_pct" in readings:
        checks.append(("battery_soc_pct", True))
    for name, is_soc in checks:
        values = readings[name].to_numpy("float64")
        idx = np.flatnonzero(~np.isnan(values))
        if len(idx) < 2:
            continue
        before, after = idx[:-1], idx[1:]
        dt = seconds[after] - seconds[before]
        change = values[after] - values[before]
        same = (device[after] == device[before]) & (day[after] >= 0)
        if is_soc:
            allowed = limits.rated_power_w * dt * KWH_PER_WS / kwh_per_pct + SOC_STEP_PCT
            bad = same & (np.abs(change) > allowed)
            severe = np.abs(change) - allowed >= SEVERE_SOC_EXCESS_PCT
        else:
            reset = values[after] <= limits.max_counter_step_kwh(dt)
            allowed = np.zeros(len(dt))
            bad = same & (day[after] == day[before]) & (change < 0) & ~reset
            severe = np.zeros(len(dt), dtype=bool)
        if not bad.any():
            continue
        found.append(
            pd.DataFrame(
                {
                    DEVICE_ID: readings[DEVICE_ID].to_numpy()[after[bad]],
                    SOURCE: readings[SOURCE].to_numpy()[after[bad]],
                    "time": times[after[bad]],
                    "previous_time": times[before[bad]],
                    "field": name,
                    "previous": values[before[bad]],
                    "value": values[after[bad]],
                    "allowed_change": allowed[bad],
                    "severe": severe[bad],
                    "_key": device[after[bad]] * max(len(grid.days), 1) + day[after[bad]],
                }
            )
        )
    if not found:
        return pd.DataFrame({c: [] for c in IMPLAUSIBLE_COLUMNS})
    out = pd.concat(found, ignore_index=True)
    per_day = out.groupby("_key")["_key"].transform("size")
    out["severe"] = out["severe"] | (per_day >= SEVERE_CHANGES_PER_DAY)
    out = out.sort_values(["time", DEVICE_ID, "field"], kind="stable")
    return out[list(IMPLAUSIBLE_COLUMNS)].reset_index(drop=True)


def impossible_examples(
    readings: pd.DataFrame, limits: Limits, *, limit: int = 10
) -> list[dict[str, object]]:
    """The first few impossible values: device, source (live or migrated), time, field and
    value, for a person to look at."""
    examples: list[dict[str, object]] = []
    for name, mask in impossible_masks(readings, limits).items():
        for i in np.flatnonzero(mask)[:limit]:
            examples.append(
                {
                    "device_id": str(readings[DEVICE_ID].iat[i]),
                    "source": str(readings[SOURCE].iat[i]),
                    "time": readings[TIME].iat[i].isoformat(),
                    "field": name,
                    "value": float(readings[name].iat[i]),
                }
            )
    examples.sort(key=lambda e: str(e["time"]))
    return examples[:limit]


def unbalanced_days(
    daily: pd.DataFrame,
    *,
    limit_pct: float = BALANCE_LIMIT_PCT,
    min_kwh: float = MIN_COMPARED_KWH,
) -> pd.DataFrame:
    """The ``daily_energy`` rows whose ``balance_error_pct`` (energy in against energy out)
    exceeds ``limit_pct``; days that moved less than ``min_kwh`` either way are not judged."""
    energy_in = daily["pv_kwh"] + daily["grid_import_kwh"] + daily["battery_discharge_kwh"]
    energy_out = daily["load_kwh"] + daily["grid_export_kwh"] + daily["battery_charge_kwh"]
    judged = np.maximum(energy_in, energy_out) >= min_kwh
    return daily[judged & (daily["balance_error_pct"].abs() > limit_pct)]


@dataclass(frozen=True)
class CounterComparison:
    compared: int
    """Quantities (per day and device) where both a counter and an integration were compared."""
    disagreements: list[dict[str, Any]]
    """One row per quantity outside the limit: day, device, energy, both kWh, difference %."""


def counter_disagreements(
    reports: Iterable[tuple[object, object, Mapping[str, Any]]],
    *,
    limit_pct: float = AGREEMENT_LIMIT_PCT,
    min_kwh: float = MIN_COMPARED_KWH,
    min_coverage_pct: float = COVERAGE_WARN_PCT,
) -> CounterComparison:
    """Compare each energy counter with the energy integrated from the power readings.

    ``reports``: ``(day, device_id, report document)`` with the daily report's
    ``sources`` (per quantity ``counter_kwh`` and ``integrated_kwh``) and ``quality``
    blocks. Days below ``min_coverage_pct`` are skipped (their integration misses
    energy), as are quantities below ``min_kwh``. The difference is relative to the
    larger of the two.
    """
    compared = 0
    disagreements: list[dict[str, Any]] = []
    for day, device, document in reports:
        if (document.get("quality", {}).get("coverage_pct") or 0.0) < min_coverage_pct:
            continue
        for name, source in document.get("sources", {}).items():
            counter, integrated = source.get("counter_kwh"), source.get("integrated_kwh")
            if counter is None or integrated is None:
                continue
            larger = max(abs(counter), abs(integrated))
            if larger < min_kwh:
                continue
            compared += 1
            difference = 100.0 * (counter - integrated) / larger
            if abs(difference) > limit_pct:
                disagreements.append(
                    {
                        "day": str(day),
                        "device": device,
                        "energy": name,
                        "counter_kwh": counter,
                        "integrated_kwh": integrated,
                        "difference_pct": difference,
                    }
                )
    return CounterComparison(compared, disagreements)
