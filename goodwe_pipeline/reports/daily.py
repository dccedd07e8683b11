"""Daily energy figures per device and local day (pure: no Dagster, no I/O).

How each day's energies are found, best first:

1. lifetime counters (``*_total_kwh``): the sum of the increments between consecutive
   readings. A counter that drops to near zero was reset (the increment is its new
   value). Between resets a counter never goes back, so it is read through the largest
   set of its readings whose values never decrease (``monotone_readings``); the readings
   left out count nothing. That way a short up-and-back *excursion* (a value above
   readings after it, the counter later returning below it) adds nothing whatever its
   size, and so does a dip (a value below readings before it); of an excursion and a dip
   as long as each other, the lower values are kept. An excursion is recognised once
   the counter has more readings after it than the excursion lasted. A rise faster than
   3x the rated power could produce is a glitch too and adds nothing. An increment
   spanning midnight is shared between the days in proportion to time, so counters also
   measure through gaps in the readings;
2. daily counters (``*_today_kwh``, reset at the inverter's midnight): the same rules, the
   reset counting as a drop to near zero. Both count as ``energy_source='counters'``;
3. integration of powers: each reading's power held until the next one, never across a
   gap longer than ``gap_factor`` times the cadence (the median spacing of the day).

A counter is used for a day only when its increments span at least 90 % of the time the
powers do (a counter that only appears at noon does not replace a whole day of powers).
``energy_source`` is ``counters`` when all six energies came from counters.

Quarter-hour energies follow the integrated powers, scaled so that they sum to the day's
totals; when the powers say nothing (all zero or missing) the total is spread evenly over
the day's quarter hours. Costs use the quarter-hour prices: import at the buy price,
export at the sell price, and a baseline with no PV and no battery in which the whole
load is bought at the buy price. A day with energy in a quarter hour that has no price
gets no costs (``NaN``) rather than a partial sum.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from goodwe_pipeline.readings import DEVICE_ID
from goodwe_pipeline.reports.quality import (
    POWER_FIELDS,
    SOC_FIELDS,
    TEMPERATURE_FIELDS,
    DayGrid,
    Intervals,
    Limits,
    cadence_by_group,
    without_impossible,
)

QUARTER_S = 900.0
KWH_PER_WS = 1.0 / 3.6e6
COUNTER_RESOLUTION_KWH = 0.2
"""Slack on counter plausibility: GoodWe counters step in 0.1 kWh."""
MIN_COUNTER_SPAN = 0.9

COUNTERS = "counters"
INTEGRATED = "integrated"


@dataclass(frozen=True)
class Quantity:
    name: str
    power: str
    sign: float
    lifetime: str
    daily: str

    @property
    def column(self) -> str:
        return f"{self.name}_kwh"


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("pv", "pv_power_w", 1.0, "pv_energy_total_kwh", "pv_energy_today_kwh"),
    Quantity("load", "load_power_w", 1.0, "load_energy_total_kwh", "load_energy_today_kwh"),
    Quantity("grid_import", "grid_power_w", -1.0, "grid_import_total_kwh", "grid_import_today_kwh"),
    Quantity("grid_export", "grid_power_w", 1.0, "grid_export_total_kwh", "grid_export_today_kwh"),
    Quantity(
        "battery_charge",
        "battery_power_w",
        -1.0,
        "battery_charge_total_kwh",
        "battery_charge_today_kwh",
    ),
    Quantity(
        "battery_discharge",
        "battery_power_w",
        1.0,
        "battery_discharge_total_kwh",
        "battery_discharge_today_kwh",
    ),
)

READING_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *(name for q in QUANTITIES for name in (q.power, q.lifetime, q.daily)),
            *SOC_FIELDS,
            *POWER_FIELDS,
            *TEMPERATURE_FIELDS,
        ]
    )
)
"""The reading fields ``daily_energy`` uses (energies, SOC, and those checked for
physically impossible values): what the report reads from the raw store."""

DAILY_ENERGY_COLUMNS: tuple[str, ...] = (
    "day",
    DEVICE_ID,
    *(q.column for q in QUANTITIES),
    "self_consumption_pct",
    "self_sufficiency_pct",
    "soc_min",
    "soc_max",
    "peak_pv_w",
    "peak_load_w",
    "import_cost_pln",
    "export_revenue_pln",
    "net_cost_pln",
    "baseline_cost_pln",
    "savings_pln",
    "coverage_pct",
    "energy_source",
    "balance_error_pct",
)
"""The ``daily_energy`` columns this module computes (the asset adds config and time)."""

DETAIL_COLUMNS: tuple[str, ...] = (
    "samples",
    "cadence_s",
    *(
        f"{q.name}_{what}"
        for q in QUANTITIES
        for what in ("integrated_kwh", "counter_kwh", "source")
    ),
    "unpriced_quarters",
)
"""Further columns of ``DailyEnergy.days``: how each figure was found."""


@dataclass(frozen=True)
class DailyEnergy:
    """``days``: one row per (day, device) with ``DAILY_ENERGY_COLUMNS`` and details
    (``samples``, ``cadence_s``, ``<q>_integrated_kwh``, ``<q>_counter_kwh``,
    ``<q>_source``, ``unpriced_quarters``); ``quarters``: one row per device, day and
    quarter hour with the energies, prices and money of that quarter."""

    days: pd.DataFrame
    quarters: pd.DataFrame


def daily_energy(
    readings: pd.DataFrame,
    prices: pd.DataFrame,
    days: Sequence[date],
    tz: str,
    *,
    limits: Limits | None = None,
    now: datetime | None = None,
    gap_factor: float = 2.0,
) -> DailyEnergy:
    """Compute the figures of every (device, day) with readings, all days in one pass.

    ``readings`` is a canonical frame (sorted by device and time) that may reach past the
    days on both sides: readings just outside let counters bridge midnight. ``prices``
    has ``time_start``, ``time_end``, ``buy_pln_kwh`` and ``sell_pln_kwh`` (quarter-hour
    or hourly rows). ``now`` marks a partial day: coverage counts only elapsed time.
    """
    limits = limits or Limits()
    grid = DayGrid.build(days, tz)
    n_days = len(grid.days)
    readings = without_impossible(readings, limits)
    iv = Intervals.build(readings, grid)
    keys = iv.group_keys(n_days)
    inside = np.flatnonzero(keys >= 0)
    if len(inside) == 0 or n_days == 0:
        return DailyEnergy(_empty_days(), _empty_quarters())
    if np.any(iv.dt < 0) or np.any(np.diff(keys[inside]) < 0):
        raise ValueError("readings must be sorted by device_id and time (use readings.normalize)")

    n_groups = len(iv.devices) * n_days
    cadence = np.full(n_groups, np.nan)
    by_group = cadence_by_group(iv, keys)
    cadence[by_group.index.to_numpy()] = by_group.to_numpy()
    row_cadence = cadence[np.clip(keys, 0, None)]
    usable = (keys >= 0) & np.isfinite(iv.dt) & (iv.dt > 0) & (iv.dt <= gap_factor * row_cadence)
    held_s = np.where(usable, iv.dt, 0.0)

    k_in = keys[inside]
    starts, groups = _runs(k_in)
    slot = np.floor(iv.seconds[inside] / QUARTER_S).astype("int64")
    q_starts, _ = _runs(k_in * 1_000_000_000 + (slot - slot.min()))
    q_group = k_in[q_starts]
    q_slot = slot[q_starts]

    integrated_q: dict[str, np.ndarray] = {}
    for q in QUANTITIES:
        power = np.clip(q.sign * readings[q.power].to_numpy("float64")[inside], 0.0, None)
        energy = np.nan_to_num(power) * held_s[inside] * KWH_PER_WS
        integrated_q[q.name] = np.add.reduceat(energy, q_starts)

    qg = _QuarterGrid.build(groups, grid, now)
    g_day = groups % n_days
    n_slots, offsets = qg.n_slots, qg.offsets
    q_pos, in_grid = qg.positions(q_group, q_slot)

    span_power = np.bincount(k_in, weights=held_s[inside], minlength=n_groups)[groups]
    table: dict[str, Any] = {
        "samples": np.diff(np.append(starts, len(k_in))),
        "cadence_s": cadence[groups],
    }
    quarter_energy: dict[str, np.ndarray] = {}
    all_counters = np.ones(len(groups), dtype=bool)
    steps_cache: dict[str, _Steps] = {}
    for q in QUANTITIES:
        integ_full = np.zeros(offsets[-1])
        np.add.at(integ_full, q_pos[in_grid], integrated_q[q.name][in_grid])
        integ_total = _segment_sums(integ_full, offsets)
        total, source = integ_total.copy(), np.full(len(groups), INTEGRATED)
        counter_total = np.full(len(groups), np.nan)
        for column in (q.lifetime, q.daily):
            if column == q.daily and not (source == INTEGRATED).any():
                break
            c_total, c_span = _counter_totals(
                readings[column].to_numpy("float64"),
                iv,
                grid,
                limits,
                steps_cache,
                daily=column == q.daily,
            )
            c_total, c_span = c_total[groups], c_span[groups]
            use = (source == INTEGRATED) & (c_span > 0) & (c_span >= MIN_COUNTER_SPAN * span_power)
            total = np.where(use, c_total, total)
            source = np.where(use, COUNTERS, source)
            known = np.where(c_span > 0, c_total, np.nan)
            counter_total = np.where(np.isnan(counter_total), known, counter_total)
        all_counters &= source == COUNTERS
        scale = np.divide(total, integ_total, out=np.zeros_like(total), where=integ_total > 0)
        uniform = np.divide(total, n_slots, out=np.zeros_like(total), where=n_slots > 0)
        uniform = np.where(integ_total > 0, 0.0, uniform)
        quarter_energy[q.name] = integ_full * np.repeat(scale, n_slots) + np.repeat(
            uniform, n_slots
        )
        table[q.column] = total
        table[f"{q.name}_integrated_kwh"] = integ_total
        table[f"{q.name}_counter_kwh"] = counter_total
        table[f"{q.name}_source"] = source

    buy, sell = _prices_for_slots(prices, qg.slot)
    money = _money(quarter_energy, buy, sell, offsets, n_slots)
    table.update(money)

    for name, reducer, field in (
        ("soc_min", np.fmin, "battery_soc_pct"),
        ("soc_max", np.fmax, "battery_soc_pct"),
        ("peak_pv_w", np.fmax, "pv_power_w"),
        ("peak_load_w", np.fmax, "load_power_w"),
    ):
        table[name] = reducer.reduceat(readings[field].to_numpy("float64")[inside], starts)

    frame = pd.DataFrame(table)
    frame.insert(0, DEVICE_ID, [iv.devices[g // n_days] for g in groups])
    frame.insert(0, "day", [grid.days[d] for d in g_day])
    elapsed = grid.window_seconds(now)[g_day]
    expected = np.divide(
        elapsed, frame["cadence_s"].to_numpy(), where=elapsed > 0, out=np.zeros(len(groups))
    )
    frame["coverage_pct"] = np.where(
        expected > 0, np.minimum(100.0, 100.0 * frame["samples"] / np.maximum(expected, 1.0)), 0.0
    )
    _ratios(frame)
    frame["energy_source"] = np.where(all_counters, COUNTERS, INTEGRATED)

    quarters = pd.DataFrame(
        {
            DEVICE_ID: [iv.devices[g // n_days] for g in qg.group],
            "day": [grid.days[g % n_days] for g in qg.group],
            "time_start": pd.to_datetime(qg.slot * int(QUARTER_S), unit="s", utc=True),
            "buy_pln_kwh": buy,
            "sell_pln_kwh": sell,
            **{f"{q.name}_kwh": quarter_energy[q.name] for q in QUANTITIES},
        }
    )
    quarters["import_cost_pln"] = quarters["grid_import_kwh"] * quarters["buy_pln_kwh"]
    quarters["export_revenue_pln"] = quarters["grid_export_kwh"] * quarters["sell_pln_kwh"]
    return DailyEnergy(frame[[*DAILY_ENERGY_COLUMNS, *DETAIL_COLUMNS]], quarters)


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and values of the runs of equal values in a non-decreasing array."""
    if len(sorted_keys) == 0:
        return np.array([], dtype="int64"), np.array([], dtype="int64")
    starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
    return starts, sorted_keys[starts]


def _segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sums of ``values[offsets[i]:offsets[i+1]]`` (0 for empty segments)."""
    sums = np.add.reduceat(np.append(values, 0.0), offsets[:-1])
    return np.where(np.diff(offsets) > 0, sums, 0.0)


@dataclass(frozen=True)
class _QuarterGrid:
    """Every quarter hour of every group (device and day) that has readings, in group
    order: group ``i`` owns positions ``offsets[i]:offsets[i+1]`` (to ``now`` on a
    partial day). Quarter hours are UTC-aligned slots of 900 s, which are local quarter
    hours in every time zone whose offset is a multiple of 15 minutes."""

    groups: np.ndarray
    n_days: int
    first_slot: np.ndarray
    """First slot of each day."""
    n_slots: np.ndarray
    offsets: np.ndarray
    group: np.ndarray
    slot: np.ndarray

    @classmethod
    def build(cls, groups: np.ndarray, grid: DayGrid, now: datetime | None) -> _QuarterGrid:
        ends = grid.ends if now is None else np.minimum(grid.ends, max(now.timestamp(), 0.0))
        first = np.floor(grid.starts / QUARTER_S).astype("int64")
        last = np.maximum(np.ceil(ends / QUARTER_S).astype("int64"), first)
        n_days = len(grid.days)
        day = groups % n_days
        n_slots = last[day] - first[day]
        offsets = np.concatenate([[0], np.cumsum(n_slots)])
        within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], n_slots)
        slot = within + np.repeat(first[day], n_slots)
        return cls(groups, n_days, first, n_slots, offsets, np.repeat(groups, n_slots), slot)

    def positions(self, group: np.ndarray, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid position of each (group, slot), and whether it lies inside the grid."""
        index = np.searchsorted(self.groups, group)
        position = self.offsets[index] + (slot - self.first_slot[group % self.n_days])
        inside = (position >= self.offsets[index]) & (position < self.offsets[index + 1])
        return position, inside


@dataclass(frozen=True)
class _Steps:
    """Consecutive known values of a counter: the time steps between them and the days
    they fall in. The same for every counter known at every reading, so built once."""

    idx: np.ndarray | None
    t0: np.ndarray
    t1: np.ndarray
    dt: np.ndarray
    device: np.ndarray
    day1: np.ndarray
    whole: np.ndarray
    """Step within one day of the grid (and one device)."""
    keys: np.ndarray
    """Group key of a whole step (0 elsewhere, with zero weight)."""
    span: np.ndarray
    """Seconds covered by whole steps, per group."""
    crossing: np.ndarray
    """Steps of one device that span a day boundary of the grid."""
    max_increment: np.ndarray

    @classmethod
    def build(cls, iv: Intervals, grid: DayGrid, limits: Limits, idx: np.ndarray | None) -> _Steps:
        n_days = len(grid.days)
        n_groups = len(iv.devices) * n_days
        pick = (lambda a: a) if idx is None else (lambda a: a[idx])
        t, dev, day = pick(iv.seconds), pick(iv.device_codes), pick(iv.day)
        same = dev[1:] == dev[:-1]
        dt = np.diff(t)
        day0 = day[:-1]
        day1 = _day_before_end(day[1:], t[1:], grid)
        whole = same & (day0 == day1) & (day0 >= 0)
        keys = np.where(whole, dev[:-1] * n_days + day0, 0)
        span = np.bincount(keys, weights=np.where(whole, dt, 0.0), minlength=n_groups)
        crossing = same & ~whole & (dt > 0)
        max_increment = limits.max_power_w * KWH_PER_WS * dt + COUNTER_RESOLUTION_KWH
        return cls(
            idx, t[:-1], t[1:], dt, dev[:-1], day1, whole, keys, span, crossing, max_increment
        )


def _counter_totals(
    values: np.ndarray,
    iv: Intervals,
    grid: DayGrid,
    limits: Limits,
    steps_cache: dict[str, _Steps],
    *,
    daily: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Energy and time span (s) a counter accounts for, per group key (device * days + day).

    A counter's readings outside ``monotone_readings`` count as unknown."""
    values = _without_excursions(values, iv, limits)
    n_days = len(grid.days)
    n_groups = len(iv.devices) * n_days
    known = ~np.isnan(values)
    if known.sum() < 2:
        return np.zeros(n_groups), np.zeros(n_groups)
    if known.all():
        if "all" not in steps_cache:
            steps_cache["all"] = _Steps.build(iv, grid, limits, None)
        steps, v = steps_cache["all"], values
    else:
        idx = np.flatnonzero(known)
        steps, v = _Steps.build(iv, grid, limits, idx), values[idx]
    delta = np.diff(v)
    after = v[1:]
    dropped = delta < 0
    reset = dropped & (after <= steps.max_increment)
    increment = np.where(dropped, after, delta)
    increment[(increment > steps.max_increment) | (dropped & ~reset)] = 0.0
    total = np.bincount(
        steps.keys, weights=np.where(steps.whole, increment, 0.0), minlength=n_groups
    )
    span = steps.span.copy()
    crossing = steps.crossing
    if daily:
        # A daily counter restarts at midnight: what it shows after the reset is the later day's.
        to_end = steps.crossing & reset & (steps.day1 >= 0)
        if to_end.any():
            end_keys = steps.device[to_end] * n_days + steps.day1[to_end]
            total += np.bincount(end_keys, weights=increment[to_end], minlength=n_groups)
            since_midnight = steps.t1[to_end] - grid.starts[steps.day1[to_end]]
            span += np.bincount(end_keys, weights=since_midnight, minlength=n_groups)
            crossing = crossing & ~to_end
    candidates = np.flatnonzero(crossing)
    t0, t1, dt = steps.t0, steps.t1, steps.dt
    first = np.searchsorted(grid.ends, t0[candidates], side="right")
    last = np.searchsorted(grid.starts, t1[candidates], side="left")
    for i, lo, hi in zip(candidates, first, last, strict=True):
        for k in range(lo, hi):
            overlap = min(t1[i], grid.ends[k]) - max(t0[i], grid.starts[k])
            if overlap > 0:
                key = steps.device[i] * n_days + k
                total[key] += increment[i] * overlap / dt[i]
                span[key] += overlap
    return total, span


def _without_excursions(values: np.ndarray, iv: Intervals, limits: Limits) -> np.ndarray:
    """``values`` with the readings outside ``monotone_readings`` unknown (NaN), within each
    device's run between resets (a drop to at most what the rated power could add in
    the time since the reading before, plus the counter's resolution)."""
    idx = np.flatnonzero(~np.isnan(values))
    if len(idx) < 3:
        return values
    v, device, t = values[idx], iv.device_codes[idx], iv.seconds[idx]
    dropped = (np.diff(v) < 0) & (device[1:] == device[:-1])
    if not dropped.any():
        return values
    max_increment = limits.max_power_w * KWH_PER_WS * np.diff(t) + COUNTER_RESOLUTION_KWH
    reset = dropped & (v[1:] <= max_increment)
    if not (dropped & ~reset).any():
        return values
    boundary = np.flatnonzero(reset | (device[1:] != device[:-1])) + 1
    starts = np.concatenate([[0], boundary])
    ends = np.concatenate([boundary, [len(v)]])
    glitch_at = np.flatnonzero(dropped & ~reset) + 1
    out = values.copy()
    for lo, hi in zip(starts, ends, strict=True):
        if not ((glitch_at > lo) & (glitch_at < hi)).any():
            continue
        out[idx[lo:hi][~monotone_readings(v[lo:hi])]] = np.nan
    return out


def monotone_readings(values: np.ndarray) -> np.ndarray:
    """Which readings of a counter form the longest run of values that never decreases
    (a longest non-decreasing subsequence); of equally long ones, the one ending lowest.

    The readings outside it are the fewest that must be left out for the counter to
    never go back: an up-and-back excursion, or a dip, shorter than the rest."""
    tails: list[float] = []
    tail_index: list[int] = []
    parent = np.full(len(values), -1)
    for i, value in enumerate(values.tolist()):
        k = bisect_right(tails, value)
        if k:
            parent[i] = tail_index[k - 1]
        if k == len(tails):
            tails.append(value)
            tail_index.append(i)
        else:
            tails[k] = value
            tail_index[k] = i
    keep = np.zeros(len(values), dtype=bool)
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        keep[i] = True
        i = parent[i]
    return keep


def _day_before_end(day: np.ndarray, end: np.ndarray, grid: DayGrid) -> np.ndarray:
    """Day index of the instant just before ``end`` (a reading exactly at midnight ends the
    interval of the previous day), given the day index of ``end`` itself."""
    out = day.copy()
    at_start = (day >= 0) & (end == grid.starts[np.clip(day, 0, None)])
    if at_start.any():
        previous = day[at_start] - 1
        contiguous = (previous >= 0) & (grid.ends[np.clip(previous, 0, None)] == end[at_start])
        out[at_start] = np.where(contiguous, previous, -1)
    outside = day < 0
    if outside.any():
        # Just past the last day, or in a hole between days: the previous day may end here.
        previous = np.searchsorted(grid.ends, end[outside], side="left")
        ok = (previous < len(grid.ends)) & (
            grid.ends[np.clip(previous, 0, len(grid.ends) - 1)] == end[outside]
        )
        out[outside] = np.where(ok, previous, -1)
    return out


def _prices_for_slots(prices: pd.DataFrame, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Buy and sell price (PLN/kWh) of each quarter-hour slot; NaN where none is known."""
    found = slot_values(prices, slots, ("buy_pln_kwh", "sell_pln_kwh"))
    return found["buy_pln_kwh"], found["sell_pln_kwh"]


def slot_values(
    prices: pd.DataFrame | None, slots: np.ndarray, columns: Sequence[str]
) -> dict[str, np.ndarray]:
    """``columns`` of the price row covering each quarter-hour slot (``time_start`` //
    900 s); an hourly row covers its four slots, a repeated slot keeps the last row.
    Missing: None for text columns, NaN otherwise."""
    out: dict[str, np.ndarray] = {}
    for name in columns:
        text = prices is not None and name in prices and not is_numeric_dtype(prices[name])
        out[name] = np.full(len(slots), None, object) if text else np.full(len(slots), np.nan)
    if prices is None or prices.empty or len(slots) == 0:
        return out
    start = pd.to_datetime(prices["time_start"], utc=True).dt.as_unit("us").array.asi8 / 1e6
    end = pd.to_datetime(prices["time_end"], utc=True).dt.as_unit("us").array.asi8 / 1e6
    first = np.floor(start / QUARTER_S).astype("int64")
    count = np.maximum(np.round((end - start) / QUARTER_S).astype("int64"), 1)
    offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    table = pd.DataFrame(
        {
            "slot": np.repeat(first, count) + offsets,
            **{name: np.repeat(prices[name].to_numpy(), count) for name in columns},
        }
    ).drop_duplicates("slot", keep="last")
    table = table.sort_values("slot")
    known = table["slot"].to_numpy()
    pos = np.clip(np.searchsorted(known, slots), 0, len(known) - 1)
    found = known[pos] == slots
    for name in columns:
        out[name][found] = table[name].to_numpy()[pos[found]]
    return out


def priced_share(prices: pd.DataFrame, start: datetime, end: datetime) -> float:
    """Share (0-1) of the quarter hours of ``[start, end)`` that have a buy and a sell price."""
    slots = np.arange(
        math.floor(start.timestamp() / QUARTER_S), math.ceil(end.timestamp() / QUARTER_S)
    )
    if len(slots) == 0:
        return 1.0
    buy, sell = _prices_for_slots(prices, slots)
    return float((~np.isnan(buy) & ~np.isnan(sell)).sum() / len(slots))


def _money(
    energy: dict[str, np.ndarray],
    buy: np.ndarray,
    sell: np.ndarray,
    offsets: np.ndarray,
    n_slots: np.ndarray,
) -> dict[str, np.ndarray]:
    def per_day(values: np.ndarray) -> np.ndarray:
        return _segment_sums(values, offsets)

    eps = 1e-12
    imp, exp, load = energy["grid_import"], energy["grid_export"], energy["load"]
    unpriced = ((imp > eps) | (load > eps)) & np.isnan(buy) | (exp > eps) & np.isnan(sell)
    missing = per_day(unpriced.astype("float64"))
    import_cost = per_day(np.nan_to_num(imp * buy))
    export_revenue = per_day(np.nan_to_num(exp * sell))
    baseline = per_day(np.nan_to_num(load * buy))
    any_price = per_day((~np.isnan(buy)).astype("float64")) > 0
    valid = (missing == 0) & any_price
    nan = np.full(len(n_slots), np.nan)
    import_cost = np.where(valid, import_cost, nan)
    export_revenue = np.where(valid, export_revenue, nan)
    net = import_cost - export_revenue
    baseline = np.where(valid, baseline, nan)
    return {
        "import_cost_pln": import_cost,
        "export_revenue_pln": export_revenue,
        "net_cost_pln": net,
        "baseline_cost_pln": baseline,
        "savings_pln": baseline - net,
        "unpriced_quarters": missing.astype("int64"),
    }


def _ratios(frame: pd.DataFrame) -> None:
    pv, load = frame["pv_kwh"], frame["load_kwh"]
    imp, exp = frame["grid_import_kwh"], frame["grid_export_kwh"]
    frame["self_consumption_pct"] = (100.0 * (pv - exp) / pv.where(pv > 0)).clip(0.0, 100.0)
    frame["self_sufficiency_pct"] = (100.0 * (load - imp) / load.where(load > 0)).clip(0.0, 100.0)
    energy_in = pv + imp + frame["battery_discharge_kwh"]
    energy_out = load + exp + frame["battery_charge_kwh"]
    larger = np.maximum(energy_in, energy_out)
    frame["balance_error_pct"] = 100.0 * (energy_in - energy_out) / larger.where(larger > 0)


def _empty_days() -> pd.DataFrame:
    columns = (*DAILY_ENERGY_COLUMNS, *DETAIL_COLUMNS)
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    for name in ("day", DEVICE_ID, "energy_source", *(c for c in columns if c.endswith("_source"))):
        frame[name] = pd.Series(dtype="object")
    for name in ("samples", "unpriced_quarters"):
        frame[name] = pd.Series(dtype="int64")
    return frame


def _empty_quarters() -> pd.DataFrame:
    columns = ["buy_pln_kwh", "sell_pln_kwh", *(q.column for q in QUANTITIES)]
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    frame.insert(0, "time_start", pd.Series(dtype="datetime64[us, UTC]"))
    frame.insert(0, "day", pd.Series(dtype="object"))
    frame.insert(0, DEVICE_ID, pd.Series(dtype="object"))
    return frame
