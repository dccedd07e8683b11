"""Battery sessions: when the battery charged or discharged, how much, from where, at what price.

A charge session is a run of readings with battery power at or below
``-threshold_w`` (discharge: at or above ``+threshold_w``); runs of the same
kind separated by at most ``merge_gap_s`` of idle or missing data merge, and
sessions shorter than ``min_duration_s`` or smaller than ``min_energy_kwh``
are dropped. Everything is computed for all readings of a device at once
(prefix sums over numpy arrays), so a year of 10-second readings is one pass.

Integration holds each reading's power until the next reading, but never
across a gap longer than ``gap_factor`` times the local cadence: there the
reading counts for one cadence only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from goodwe_pipeline.readings import DEVICE_ID, TIME

WS_PER_KWH = 3.6e6
CARRY_OPEN = timedelta(days=2)
"""How far back a run looks for ``open`` sessions of earlier days to continue."""
CAPACITY_FACTOR = 1.2
"""A session may move at most this many times the battery's capacity."""
SOC_TOLERANCE_PCT = 1.0
QUARTER_US = 900_000_000
SESSION_COLUMNS = (
    "session_id",
    "device_id",
    "kind",
    "start_time",
    "end_time",
    "duration_s",
    "soc_start",
    "soc_end",
    "energy_kwh",
    "grid_energy_kwh",
    "pv_energy_kwh",
    "avg_price_pln_kwh",
    "cost_pln",
    "value_pln",
    "status",
    "partition_date",
    "energy_source",
)


@dataclass(frozen=True)
class SessionConfig:
    """Thresholds of session detection (defaults from the project brief)."""

    threshold_w: float = 100.0
    merge_gap_s: float = 300.0
    min_duration_s: float = 300.0
    min_energy_kwh: float = 0.05
    gap_factor: float = 2.0
    counter_min_kwh: float = 1.0
    """Lifetime counters (0.1 kWh steps) are trusted only for sessions at least this large."""
    counter_rel_tol: float = 0.25
    counter_abs_tol_kwh: float = 0.2
    """Counters must agree with integration within abs + rel × integrated to be used."""


def session_id(device_id: str, start_time: datetime | pd.Timestamp) -> str:
    """Deterministic id from the device and the UTC start (so re-runs upsert)."""
    start = pd.Timestamp(start_time).tz_convert("UTC").isoformat()
    return hashlib.sha1(f"{device_id}|{start}".encode()).hexdigest()[:20]


def empty_sessions() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in SESSION_COLUMNS})
    for name in ("session_id", "device_id", "kind", "status", "partition_date", "energy_source"):
        frame[name] = pd.Series(dtype=object)
    for name in ("start_time", "end_time"):
        frame[name] = pd.Series(dtype="datetime64[us, UTC]")
    return frame[list(SESSION_COLUMNS)]


def _cadence(t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Typical reading interval around each reading: the median interval of its hour.

    Hours with fewer than four intervals use the device's overall median, so a
    history mixing 60-second and 10-second readings is integrated correctly.
    """
    if len(dt) == 0:
        return np.full(len(t), 30.0)
    overall = float(np.median(dt))
    hours = np.floor(t[:-1] / 3600.0)
    by_hour = pd.Series(dt).groupby(hours)
    median = by_hour.median()
    median[by_hour.size() < 4] = overall
    hour_of_reading = np.floor(t / 3600.0)
    return median.reindex(hour_of_reading).fillna(overall).to_numpy()


def _prices_at(times: np.ndarray, prices: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Buy and sell price in force at each reading time (NaN where none)."""
    n = len(times)
    if prices is None or prices.empty:
        return np.full(n, np.nan), np.full(n, np.nan)
    table = prices.sort_values("time_start")
    starts = _seconds(table["time_start"])
    ends = _seconds(table["time_end"])
    index = np.searchsorted(starts, times, side="right") - 1
    valid = (index >= 0) & (times < ends[np.clip(index, 0, None)])
    safe = np.clip(index, 0, None)
    buy = np.where(valid, table["buy_pln_kwh"].to_numpy(dtype="float64")[safe], np.nan)
    sell = np.where(valid, table["sell_pln_kwh"].to_numpy(dtype="float64")[safe], np.nan)
    return buy, sell


def _seconds(values: Any) -> np.ndarray:
    stamps = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    return stamps.as_unit("us").asi8.astype("float64") / 1e6


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name in frame:
        return frame[name].to_numpy(dtype="float64")
    return np.full(len(frame), np.nan)


def _span_sum(prefix: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Sum of the values at indices ``first..last`` inclusive, from their prefix sums."""
    return prefix[last + 1] - prefix[first]


def _prefix(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values) + 1)
    np.cumsum(values, out=out[1:])
    return out


def _soc_at_ends(soc: np.ndarray, runs: _Runs) -> tuple[np.ndarray, np.ndarray]:
    """SOC at each run's first reading and at its closing reading.

    A missing value is taken from the nearest known one inside the run, never
    from outside it.
    """
    known = pd.Series(np.where(np.isfinite(soc), np.arange(len(soc)), np.nan))
    after = known.bfill().to_numpy()[runs.first]
    before = known.ffill().to_numpy()[runs.end]
    start_ok = np.isfinite(after) & (after <= runs.last)
    end_ok = np.isfinite(before) & (before >= runs.first)
    start = np.where(start_ok, soc[np.where(start_ok, after, 0).astype(int)], np.nan)
    end = np.where(end_ok, soc[np.where(end_ok, before, 0).astype(int)], np.nan)
    return start, end


@dataclass(frozen=True)
class _Runs:
    """Runs of active readings: index of the first and last reading, kind (-1 charge, +1
    discharge), and ``end``: the reading that closes each run (the next reading when it is
    within reach, else the last active one)."""

    first: np.ndarray
    last: np.ndarray
    kinds: np.ndarray
    end: np.ndarray


def _find_runs(
    t: np.ndarray, state: np.ndarray, hold: np.ndarray, in_reach: np.ndarray, cfg: SessionConfig
) -> _Runs | None:
    active = np.flatnonzero(state)
    if len(active) == 0:
        return None
    reach_end = t[active] + hold[active]
    kind_change = state[active[1:]] != state[active[:-1]]
    too_far = t[active[1:]] - reach_end[:-1] > cfg.merge_gap_s
    new_run = np.concatenate(([True], kind_change | too_far))
    first = active[new_run]
    last = active[np.append(np.flatnonzero(new_run)[1:] - 1, len(active) - 1)]
    closes = (last + 1 < len(t)) & in_reach[last]
    return _Runs(first, last, state[first], np.where(closes, last + 1, last))


def _flows(
    frame: pd.DataFrame, power: np.ndarray, hold: np.ndarray, buy: np.ndarray, sell: np.ndarray
) -> dict[str, np.ndarray]:
    """Per reading: energy (Ws) into and out of the battery, split by where it came from or went,
    and the money those energies are worth (PLN·Ws/kWh; NaN prices count as 0, see ``unpriced``)."""
    grid = _column(frame, "grid_power_w")
    pv = _column(frame, "pv_power_w")
    charge = np.nan_to_num(np.clip(-power, 0, None)) * hold
    discharge = np.nan_to_num(np.clip(power, 0, None)) * hold
    imported = np.clip(-grid, 0, None) * hold
    exported = np.clip(grid, 0, None) * hold
    pv_energy = np.clip(pv, 0, None) * hold
    from_grid = np.where(
        np.isnan(imported),
        np.where(np.isnan(pv_energy), charge, np.clip(charge - pv_energy, 0, None)),
        np.minimum(charge, imported),
    )
    from_pv = charge - from_grid
    to_grid = np.where(np.isnan(exported), 0.0, np.minimum(discharge, exported))
    to_home = discharge - to_grid
    unpriced = np.isnan(buy) | np.isnan(sell)
    buy0, sell0 = np.nan_to_num(buy), np.nan_to_num(sell)
    return {
        "charge": charge,
        "discharge": discharge,
        "from_grid": from_grid,
        "from_pv": from_pv,
        "to_grid": to_grid,
        "cost": from_grid * buy0 + from_pv * sell0,
        "value": to_home * buy0 + to_grid * sell0,
        "charge_unpriced": charge * unpriced,
        "discharge_unpriced": discharge * unpriced,
    }


def _counter_energy(
    frame: pd.DataFrame,
    runs: _Runs,
    integrated_kwh: np.ndarray,
    tail_kwh: np.ndarray,
    cfg: SessionConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Energy by the battery's lifetime counters, and where it is trustworthy.

    ``tail_kwh`` is the last reading's own interval, which a run that ends in a
    data gap has no closing counter value for.
    """
    delta = np.full(len(runs.first), np.nan)
    backwards = np.zeros(len(runs.first), dtype=bool)
    for sign, name in ((-1, "battery_charge_total_kwh"), (1, "battery_discharge_total_kwh")):
        counter = _column(frame, name)
        mine = runs.kinds == sign
        if not mine.any() or np.isnan(counter).all():
            continue
        steps_back = _prefix((np.append(np.diff(counter), 0.0) < -1e-6).astype("float64"))
        closing = np.where(runs.end == runs.last, tail_kwh, 0.0)
        delta = np.where(mine, counter[runs.end] - counter[runs.first] + closing, delta)
        went_back = _span_sum(steps_back, runs.first, np.maximum(runs.end - 1, runs.first)) > 0
        backwards = np.where(mine, went_back, backwards)
    tolerance = cfg.counter_abs_tol_kwh + cfg.counter_rel_tol * integrated_kwh
    trusted = (
        np.isfinite(delta)
        & ~backwards
        & (delta >= cfg.counter_min_kwh)
        & (np.abs(delta - integrated_kwh) <= tolerance)
    )
    return delta, trusted


def _device_sessions(
    device: str,
    frame: pd.DataFrame,
    buy_sell: tuple[np.ndarray, np.ndarray],
    data_end_s: float,
    tz: str,
    cfg: SessionConfig,
) -> pd.DataFrame | None:
    t = _seconds(frame[TIME])
    power = _column(frame, "battery_power_w")
    state = np.where(power <= -cfg.threshold_w, -1, np.where(power >= cfg.threshold_w, 1, 0))
    dt = np.diff(t)
    cadence = _cadence(t, dt)
    step = np.append(dt, np.inf)
    in_reach = step <= cfg.gap_factor * cadence
    hold = np.where(in_reach, step, cadence)
    runs = _find_runs(t, state, hold, in_reach, cfg)
    if runs is None:
        return None

    flows = _flows(frame, power, hold, *buy_sell)

    def kwh(name: str) -> np.ndarray:
        return _span_sum(_prefix(flows[name]), runs.first, runs.last) / WS_PER_KWH

    is_charge = runs.kinds < 0
    integrated = np.where(is_charge, kwh("charge"), kwh("discharge"))
    tail = np.abs(np.nan_to_num(power[runs.last])) * hold[runs.last] / WS_PER_KWH
    counted, trusted = _counter_energy(frame, runs, integrated, tail, cfg)
    energy = np.where(trusted, counted, integrated)
    scale = np.where(
        trusted & (integrated > 0), energy / np.where(integrated > 0, integrated, 1), 1
    )

    start_s = t[runs.first]
    duration = t[runs.last] + hold[runs.last] - start_s
    keep = (duration >= cfg.min_duration_s) & (energy >= cfg.min_energy_kwh)
    if not keep.any():
        return None
    unpriced = np.where(is_charge, kwh("charge_unpriced"), kwh("discharge_unpriced")) > 0
    cost = np.where(is_charge & ~unpriced, kwh("cost") * scale, np.nan)
    value = np.where(~is_charge & ~unpriced, kwh("value") * scale, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_price = np.where(energy > 0, np.where(is_charge, cost, value) / energy, np.nan)
    soc_start, soc_end = _soc_at_ends(_column(frame, "battery_soc_pct"), runs)
    start_times = (
        pd.DatetimeIndex(frame[TIME].iloc[runs.first[keep]]).tz_convert("UTC").as_unit("us")
    )
    return pd.DataFrame(
        {
            "session_id": [session_id(device, s) for s in start_times],
            "device_id": device,
            "kind": np.where(is_charge[keep], "charge", "discharge"),
            "start_time": start_times,
            "end_time": (start_times + pd.to_timedelta(duration[keep], unit="s")).round("ms"),
            "duration_s": np.round(duration[keep], 3),
            "soc_start": soc_start[keep],
            "soc_end": soc_end[keep],
            "energy_kwh": energy[keep],
            "grid_energy_kwh": (np.where(is_charge, kwh("from_grid"), kwh("to_grid")) * scale)[
                keep
            ],
            "pv_energy_kwh": np.where(is_charge, kwh("from_pv") * scale, np.nan)[keep],
            "avg_price_pln_kwh": avg_price[keep],
            "cost_pln": cost[keep],
            "value_pln": value[keep],
            "status": np.where(
                start_s[keep] + duration[keep] + cfg.merge_gap_s > data_end_s, "open", "completed"
            ),
            "partition_date": [d.date() for d in start_times.tz_convert(tz)],
            "energy_source": np.where(trusted[keep], "counters", "integrated"),
        }
    )


def detect_sessions(
    readings: pd.DataFrame,
    prices: pd.DataFrame | None,
    *,
    tz: str,
    data_end: datetime,
    config: SessionConfig | None = None,
) -> pd.DataFrame:
    """Battery sessions of every device in canonical ``readings`` (``SESSION_COLUMNS``).

    ``prices`` has ``time_start``, ``time_end``, ``buy_pln_kwh``, ``sell_pln_kwh``
    (quarter hours or any other intervals); sessions touching readings without
    a price get no cost or value. A session whose end is within ``merge_gap_s``
    of ``data_end`` (the moment up to which readings were asked for) may still
    grow: its status is ``open``. ``partition_date`` is the local date of the
    start in ``tz``.
    """
    cfg = config or SessionConfig()
    if readings.empty:
        return empty_sessions()
    data_end_s = pd.Timestamp(data_end).timestamp()
    frames: list[pd.DataFrame] = []
    for device, frame in _by_device(readings):
        times = _seconds(frame[TIME])
        found = _device_sessions(device, frame, _prices_at(times, prices), data_end_s, tz, cfg)
        if found is not None:
            frames.append(found)
    if not frames:
        return empty_sessions()
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["start_time", "device_id"], kind="stable").reset_index(drop=True)


def _by_device(readings: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    devices = readings[DEVICE_ID].to_numpy()
    if len(devices) and (devices == devices[0]).all():
        yield str(devices[0]), _by_time(readings)
        return
    for device, frame in readings.groupby(DEVICE_ID, sort=True):
        yield str(device), _by_time(frame)


def _by_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Sorted by time (a store's readings already are: no copy then)."""
    if frame[TIME].is_monotonic_increasing:
        return frame
    return frame.sort_values(TIME, kind="stable")


def planned_vs_actual(plans: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """The optimiser's planned charging next to the charge sessions that happened in each plan window.

    ``plans`` are ``legacy_planned_sessions`` rows; a session counts toward a
    plan when it overlaps the plan's ``[start_time, end_time)``.
    """
    columns = [
        "plan",
        "planned_start",
        "planned_end",
        "planned_kwh",
        "planned_cost_pln",
        "status",
        "actual_sessions",
        "actual_kwh",
        "actual_cost_pln",
    ]
    if plans.empty:
        return pd.DataFrame(columns=columns)
    charges = sessions[sessions["kind"] == "charge"] if not sessions.empty else sessions
    rows = []
    for plan in plans.sort_values(["start_time", "session_id"], na_position="last").itertuples():
        start, end = plan.start_time, plan.end_time
        if charges.empty or pd.isna(start) or pd.isna(end):
            hit = charges.iloc[0:0]
        else:
            hit = charges[(charges["start_time"] < end) & (charges["end_time"] > start)]
        rows.append(
            {
                "plan": plan.session_id,
                "planned_start": start,
                "planned_end": end,
                "planned_kwh": plan.target_energy_kwh,
                "planned_cost_pln": plan.estimated_cost_pln,
                "status": plan.status,
                "actual_sessions": len(hit),
                "actual_kwh": float(hit["energy_kwh"].sum()) if len(hit) else 0.0,
                "actual_cost_pln": float(hit["cost_pln"].sum(min_count=1)) if len(hit) else None,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def days_with_readings(times: pd.Series, tz: str) -> set[date]:
    """The local days of ``times``; found from their distinct quarter hours (every time
    zone's offset is a whole number of quarter hours), not from each reading."""
    if times.empty:
        return set()
    micros = pd.DatetimeIndex(times).as_unit("us").asi8
    quarters = pd.unique(micros // QUARTER_US) * QUARTER_US
    local = pd.DatetimeIndex(quarters.astype("datetime64[us]")).tz_localize(UTC).tz_convert(tz)
    return set(local.normalize().date)


def sessions_of_run(
    found: pd.DataFrame, first: date, last: date, open_before: Collection[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a run over the days ``first..last`` stores from the sessions it ``found``.

    Returns the sessions starting on those days, and the sessions of earlier
    days that were stored ``open`` (ids in ``open_before``) and that the
    readings now continue or complete. Those keep their id and their day, so a
    charge running over midnight, stored ``open`` by the night's run of its day,
    is finished by the next day's runs.
    """
    day = found["partition_date"]
    in_range = day.map(lambda d: first <= d <= last).astype(bool)
    earlier = day.map(lambda d: d < first).astype(bool)
    continued = earlier & found["session_id"].isin(list(open_before))
    return found[in_range].reset_index(drop=True), found[continued].reset_index(drop=True)


def stale_session_ids(
    stored: pd.DataFrame, current: Collection[str], days_with_data: Collection[date]
) -> list[str]:
    """Ids of ``stored`` sessions (``session_id``, ``partition_date``) not ``current`` any more.

    Only sessions of days that had readings are stale: readings past InfluxDB
    retention must not erase the sessions derived from them.
    """
    return [
        sid
        for sid, day in zip(stored["session_id"], stored["partition_date"], strict=True)
        if day in days_with_data and sid not in current
    ]


def overlapping_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions that start before the previous session of the same device ended."""
    ordered = sessions.sort_values(["device_id", "start_time"], kind="stable")
    previous_end = ordered.groupby("device_id")["end_time"].shift()
    return ordered[ordered["start_time"] < previous_end]


def sessions_beyond_capacity(
    sessions: pd.DataFrame, capacity_kwh: float, factor: float = CAPACITY_FACTOR
) -> pd.DataFrame:
    """Sessions moving more than ``factor`` times the battery's capacity: impossible."""
    return sessions[sessions["energy_kwh"] > factor * capacity_kwh]


def soc_against_kind(
    sessions: pd.DataFrame, tolerance_pct: float = SOC_TOLERANCE_PCT
) -> tuple[int, pd.DataFrame]:
    """How many sessions know their SOC at both ends, and those whose SOC moved the
    wrong way: a charge ending emptier, or a discharge fuller, by more than ``tolerance_pct``."""
    change = sessions["soc_end"].to_numpy(dtype="float64") - sessions["soc_start"].to_numpy(
        dtype="float64"
    )
    charge = (sessions["kind"] == "charge").to_numpy()
    known = np.isfinite(change)
    wrong = known & np.where(charge, change < -tolerance_pct, change > tolerance_pct)
    return int(known.sum()), sessions[wrong]
