"""Battery sessions: when the battery charged or discharged, how much, from where, at what price.

A charge session is a run of readings with battery power at or below
``-threshold_w`` (discharge: at or above ``+threshold_w``); runs of the same
kind separated by at most ``merge_gap_s`` of idle or missing data merge, and
sessions shorter than ``min_duration_s`` or smaller than ``min_energy_kwh``
are dropped. Everything is computed for all readings of a device at once
(numpy segment sums over the readings of the runs), so a year of 10-second
readings is one pass.

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


@dataclass(frozen=True)
class _Cadence:
    """Typical reading interval around a reading: the median interval of its hour.

    Hours with fewer than four intervals use the device's overall median, so a
    history mixing 60-second and 10-second readings is integrated correctly.
    """

    hours: np.ndarray
    median: np.ndarray
    overall: float

    @classmethod
    def of(cls, t: np.ndarray, dt: np.ndarray) -> _Cadence:
        if len(dt) == 0:
            return cls(np.empty(0), np.empty(0), 30.0)
        overall = float(np.median(dt))
        by_hour = pd.Series(dt).groupby(np.floor(t[:-1] / 3600.0))
        median = by_hour.median()
        median[by_hour.size() < 4] = overall
        return cls(median.index.to_numpy(dtype="float64"), median.to_numpy(), overall)

    def at(self, times: np.ndarray) -> np.ndarray:
        if len(self.hours) == 0:
            return np.full(len(times), self.overall)
        hours = np.floor(times / 3600.0)
        pos = np.clip(np.searchsorted(self.hours, hours), 0, len(self.hours) - 1)
        value = self.median[pos]
        return np.where((self.hours[pos] == hours) & ~np.isnan(value), value, self.overall)


def _holds(
    t: np.ndarray, idx: np.ndarray, cadence: _Cadence, cfg: SessionConfig
) -> tuple[np.ndarray, np.ndarray]:
    """How long the readings at ``idx`` hold their power, and whether the next reading is
    within reach (at most ``gap_factor`` cadences away; else a reading holds one cadence)."""
    after = idx + 1 < len(t)
    step = np.where(after, t[np.where(after, idx + 1, idx)] - t[idx], np.inf)
    typical = cadence.at(t[idx])
    in_reach = step <= cfg.gap_factor * typical
    return np.where(in_reach, step, typical), in_reach


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


@dataclass(frozen=True)
class _Runs:
    """Runs of active readings: index of the first and last reading, kind (-1 charge, +1
    discharge), and ``end``: the reading that closes each run (the next reading when it is
    within reach, else the last active one).

    ``members`` are the indices of every reading from each run's first to its last, run
    after run; run ``i``'s start at ``offsets[i]``, and they hold ``hold`` each."""

    first: np.ndarray
    last: np.ndarray
    kinds: np.ndarray
    end: np.ndarray
    members: np.ndarray
    offsets: np.ndarray
    hold: np.ndarray

    def total(self, values: np.ndarray) -> np.ndarray:
        """Per run, the sum of ``values`` (one per member)."""
        return np.add.reduceat(values, self.offsets)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(np.append(self.offsets, len(self.members)))

    @property
    def last_member(self) -> np.ndarray:
        return np.append(self.offsets[1:], len(self.members)) - 1


def _find_runs(
    t: np.ndarray, power: np.ndarray, cadence: _Cadence, cfg: SessionConfig
) -> _Runs | None:
    active = np.flatnonzero((power <= -cfg.threshold_w) | (power >= cfg.threshold_w))
    if len(active) == 0:
        return None
    state = np.where(power[active] <= -cfg.threshold_w, -1, 1)
    reach_end = t[active] + _holds(t, active, cadence, cfg)[0]
    kind_change = state[1:] != state[:-1]
    too_far = t[active[1:]] - reach_end[:-1] > cfg.merge_gap_s
    new_run = np.concatenate(([True], kind_change | too_far))
    starts = np.flatnonzero(new_run)
    first = active[starts]
    last = active[np.append(starts[1:] - 1, len(active) - 1)]
    lengths = last - first + 1
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    members = np.arange(lengths.sum()) + np.repeat(first - offsets, lengths)
    hold, in_reach = _holds(t, members, cadence, cfg)
    closes = (last + 1 < len(t)) & in_reach[np.append(offsets[1:], len(members)) - 1]
    end = np.where(closes, last + 1, last)
    return _Runs(first, last, state[starts], end, members, offsets, hold)


def _soc_at_ends(soc: np.ndarray, runs: _Runs) -> tuple[np.ndarray, np.ndarray]:
    """SOC at each run's first reading and at its closing reading.

    A missing value is taken from the nearest known one inside the run, never
    from outside it.
    """
    values = soc[runs.members]
    known = np.isfinite(values)
    position = np.arange(len(values))
    first_known = np.minimum.reduceat(np.where(known, position, len(values)), runs.offsets)
    last_known = np.maximum.reduceat(np.where(known, position, -1), runs.offsets)
    start = np.where(
        first_known < len(values), values[np.minimum(first_known, len(values) - 1)], np.nan
    )
    end = np.where(last_known >= 0, values[np.maximum(last_known, 0)], np.nan)
    closing = soc[runs.end]
    end = np.where((runs.end > runs.last) & np.isfinite(closing), closing, end)
    return start, end


def _flows(
    frame: pd.DataFrame, runs: _Runs, power: np.ndarray, buy: np.ndarray, sell: np.ndarray
) -> dict[str, np.ndarray]:
    """Per member reading of the runs: energy (Ws) into and out of the battery, split by
    where it came from or went, and the money those energies are worth (PLN·Ws/kWh; NaN
    prices count as 0, see ``unpriced``)."""
    hold = runs.hold
    grid = _column(frame, "grid_power_w")[runs.members]
    pv = _column(frame, "pv_power_w")[runs.members]
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
    members = runs.members
    n = len(frame)
    # A counter going back between a run's first reading and the one before its closing
    # reading (the first one alone when that is all there is) makes it untrustworthy.
    checked = members <= np.repeat(np.maximum(runs.end - 1, runs.first), runs.lengths)
    for sign, name in ((-1, "battery_charge_total_kwh"), (1, "battery_discharge_total_kwh")):
        mine = runs.kinds == sign
        if not mine.any() or name not in frame:
            continue
        counter = _column(frame, name)
        step = counter[np.minimum(members + 1, n - 1)] - counter[members]
        went_back = np.logical_or.reduceat(checked & (step < -1e-6), runs.offsets)
        closing = np.where(runs.end == runs.last, tail_kwh, 0.0)
        delta = np.where(mine, counter[runs.end] - counter[runs.first] + closing, delta)
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
    t: np.ndarray,
    prices: pd.DataFrame | None,
    data_end_s: float,
    tz: str,
    cfg: SessionConfig,
) -> pd.DataFrame | None:
    """The sessions of one device's ``frame`` (sorted by time; ``t``: its times in seconds).

    Only the readings from a run's first to its last active one carry energy into a
    session, so only they are integrated and priced.
    """
    power = _column(frame, "battery_power_w")
    runs = _find_runs(t, power, _Cadence.of(t, np.diff(t)), cfg)
    if runs is None:
        return None
    run_power = power[runs.members]
    flows = _flows(frame, runs, run_power, *_prices_at(t[runs.members], prices))

    def kwh(name: str) -> np.ndarray:
        return runs.total(flows[name]) / WS_PER_KWH

    is_charge = runs.kinds < 0
    integrated = np.where(is_charge, kwh("charge"), kwh("discharge"))
    last_hold = runs.hold[runs.last_member]
    tail = np.abs(np.nan_to_num(power[runs.last])) * last_hold / WS_PER_KWH
    counted, trusted = _counter_energy(frame, runs, integrated, tail, cfg)
    energy = np.where(trusted, counted, integrated)
    scale = np.where(
        trusted & (integrated > 0), energy / np.where(integrated > 0, integrated, 1), 1
    )

    start_s = t[runs.first]
    duration = t[runs.last] + last_hold - start_s
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
        found = _device_sessions(device, frame, _seconds(frame[TIME]), prices, data_end_s, tz, cfg)
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
        "planned_pln_kwh",
        "actual_pln_kwh",
        "why_different",
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
        actual_kwh = float(hit["energy_kwh"].sum()) if len(hit) else 0.0
        actual_cost = float(hit["cost_pln"].sum(min_count=1)) if len(hit) else None
        planned_price = _per_kwh(plan.estimated_cost_pln, plan.target_energy_kwh)
        actual_price = _per_kwh(actual_cost, actual_kwh)
        rows.append(
            {
                "plan": plan.session_id,
                "planned_start": start,
                "planned_end": end,
                "planned_kwh": plan.target_energy_kwh,
                "planned_cost_pln": plan.estimated_cost_pln,
                "status": plan.status,
                "actual_sessions": len(hit),
                "actual_kwh": actual_kwh,
                "actual_cost_pln": actual_cost,
                "planned_pln_kwh": planned_price,
                "actual_pln_kwh": actual_price,
                "why_different": plan_difference(
                    len(hit), plan.target_energy_kwh, actual_kwh, planned_price, actual_price
                ),
            }
        )
    return pd.DataFrame(rows, columns=columns)


PLAN_TOLERANCE = 0.1
"""A relative difference up to this counts as "as planned"."""


def _per_kwh(cost: float | None, kwh: float | None) -> float | None:
    if cost is None or kwh is None or pd.isna(cost) or pd.isna(kwh) or kwh <= 0:
        return None
    return float(cost) / float(kwh)


def plan_difference(
    sessions: int,
    planned_kwh: float | None,
    actual_kwh: float,
    planned_price: float | None,
    actual_price: float | None,
) -> str:
    """Why a plan's cost and what happened differ, in words: energy, then price."""
    if sessions == 0:
        return "no charge in the planned window"
    reasons = []
    if planned_kwh is not None and pd.notna(planned_kwh) and planned_kwh > 0:
        ratio = actual_kwh / float(planned_kwh)
        if abs(ratio - 1.0) > PLAN_TOLERANCE:
            reasons.append(f"took {ratio:.1f}x the planned energy")
    if planned_price is not None and actual_price is not None and planned_price > 0:
        ratio = actual_price / planned_price
        if abs(ratio - 1.0) > PLAN_TOLERANCE:
            reasons.append(f"paid {ratio:.1f}x the planned price per kWh")
    return "; ".join(reasons) or "as planned"


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
