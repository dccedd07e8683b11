"""Daily energy figures per device and local day (pure: no Dagster, no I/O).

How each day's energies are found, best first:

1. lifetime counters (``*_total_kwh``), read as ``reports/counters.py`` says: the sum of
   the increments between consecutive readings, where a reset counts its new value and
   glitches, excursions and rises faster than 3x the rated power could produce count
   nothing. An increment spanning midnight is shared between the days in proportion to
   time, so counters also measure through gaps in the readings;
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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from goodwe_pipeline.common import days as local_days
from goodwe_pipeline.readings import DEVICE_ID
from goodwe_pipeline.reports.counters import CounterSteps, counter_totals
from goodwe_pipeline.reports.quality import (
    KWH_PER_WS,
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

READ_MARGIN = timedelta(hours=1)
"""Read past both ends of the days, so counters bridge midnight."""


def readings_window(first: date, last: date, tz: str, now: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the readings a report of the days ``first`` .. ``last`` needs:
    the days and ``READ_MARGIN`` past both ends, never past ``now`` by more than it."""
    start, end = local_days.range_window(first, last, tz)
    return start - READ_MARGIN, min(end + READ_MARGIN, now + READ_MARGIN)


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
    day_count = len(grid.days)
    readings = without_impossible(readings, limits)
    intervals = Intervals.build(readings, grid)
    group_of_reading = intervals.group_keys(day_count)
    in_days = np.flatnonzero(group_of_reading >= 0)
    if len(in_days) == 0 or day_count == 0:
        return DailyEnergy(_empty_days(), _empty_quarters())
    if np.any(intervals.dt < 0) or np.any(np.diff(group_of_reading[in_days]) < 0):
        raise ValueError("readings must be sorted by device_id and time (use readings.normalize)")

    group_count = len(intervals.devices) * day_count
    cadence, held_s = _held_seconds(intervals, group_of_reading, group_count, gap_factor)

    reading_groups = group_of_reading[in_days]
    group_starts, groups = _runs(reading_groups)
    reading_slot = np.floor(intervals.seconds[in_days] / QUARTER_S).astype("int64")
    quarter_starts, _ = _runs(reading_groups * 1_000_000_000 + (reading_slot - reading_slot.min()))

    integrated_by_quarter: dict[str, np.ndarray] = {}
    for quantity in QUANTITIES:
        power = readings[quantity.power].to_numpy("float64")[in_days]
        power = np.clip(quantity.sign * power, 0.0, None)
        energy = np.nan_to_num(power) * held_s[in_days] * KWH_PER_WS
        integrated_by_quarter[quantity.name] = np.add.reduceat(energy, quarter_starts)

    quarter_grid = _QuarterGrid.build(groups, grid, now)
    group_day = groups % day_count
    slots_per_group, offsets = quarter_grid.slots_per_group, quarter_grid.offsets
    position, in_grid = quarter_grid.positions(
        reading_groups[quarter_starts], reading_slot[quarter_starts]
    )

    powers_span_s = np.bincount(reading_groups, weights=held_s[in_days], minlength=group_count)
    powers_span_s = powers_span_s[groups]
    table: dict[str, Any] = {
        "samples": np.diff(np.append(group_starts, len(reading_groups))),
        "cadence_s": cadence[groups],
    }
    quarter_energy: dict[str, np.ndarray] = {}
    all_counters = np.ones(len(groups), dtype=bool)
    steps_cache: dict[str, CounterSteps] = {}
    for quantity in QUANTITIES:
        integrated_quarters = np.zeros(offsets[-1])
        np.add.at(
            integrated_quarters, position[in_grid], integrated_by_quarter[quantity.name][in_grid]
        )
        integrated_total = _segment_sums(integrated_quarters, offsets)
        total, source, counter_total = _prefer_counters(
            quantity,
            integrated_total,
            powers_span_s,
            readings,
            intervals,
            grid,
            limits,
            steps_cache,
            groups,
        )
        all_counters &= source == COUNTERS
        quarter_energy[quantity.name] = _spread_over_quarters(
            total, integrated_quarters, integrated_total, slots_per_group
        )
        table[quantity.column] = total
        table[f"{quantity.name}_integrated_kwh"] = integrated_total
        table[f"{quantity.name}_counter_kwh"] = counter_total
        table[f"{quantity.name}_source"] = source

    buy, sell = _prices_for_slots(prices, quarter_grid.slot)
    table.update(_money(quarter_energy, buy, sell, offsets, slots_per_group))

    for name, reducer, field in (
        ("soc_min", np.fmin, "battery_soc_pct"),
        ("soc_max", np.fmax, "battery_soc_pct"),
        ("peak_pv_w", np.fmax, "pv_power_w"),
        ("peak_load_w", np.fmax, "load_power_w"),
    ):
        table[name] = reducer.reduceat(readings[field].to_numpy("float64")[in_days], group_starts)

    frame = pd.DataFrame(table)
    frame.insert(0, DEVICE_ID, [intervals.devices[g // day_count] for g in groups])
    frame.insert(0, "day", [grid.days[d] for d in group_day])
    elapsed = grid.window_seconds(now)[group_day]
    expected = np.divide(
        elapsed, frame["cadence_s"].to_numpy(), where=elapsed > 0, out=np.zeros(len(groups))
    )
    frame["coverage_pct"] = np.where(
        expected > 0, np.minimum(100.0, 100.0 * frame["samples"] / np.maximum(expected, 1.0)), 0.0
    )
    _ratios(frame)
    frame["energy_source"] = np.where(all_counters, COUNTERS, INTEGRATED)

    quarters = _quarters_frame(intervals, grid, quarter_grid, buy, sell, quarter_energy)
    return DailyEnergy(frame[[*DAILY_ENERGY_COLUMNS, *DETAIL_COLUMNS]], quarters)


def _held_seconds(
    intervals: Intervals, group_of_reading: np.ndarray, group_count: int, gap_factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """The cadence of each group, and how long each reading's power holds: until the next
    reading, or not at all across a gap longer than ``gap_factor`` times the cadence."""
    cadence = np.full(group_count, np.nan)
    cadence_found = cadence_by_group(intervals, group_of_reading)
    cadence[cadence_found.index.to_numpy()] = cadence_found.to_numpy()
    reading_cadence = cadence[np.clip(group_of_reading, 0, None)]
    usable = (
        (group_of_reading >= 0)
        & np.isfinite(intervals.dt)
        & (intervals.dt > 0)
        & (intervals.dt <= gap_factor * reading_cadence)
    )
    held_s = np.where(usable, intervals.dt, 0.0)
    return cadence, held_s


def _prefer_counters(
    quantity: Quantity,
    integrated_total: np.ndarray,
    powers_span_s: np.ndarray,
    readings: pd.DataFrame,
    intervals: Intervals,
    grid: DayGrid,
    limits: Limits,
    steps_cache: dict[str, CounterSteps],
    groups: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's energy of ``quantity``, its source, and what its counters measured
    (NaN without counters): the lifetime counter where it spans enough of the time the
    powers do, else the daily counter, else the integrated powers."""
    total, source = integrated_total.copy(), np.full(len(groups), INTEGRATED)
    counter_total = np.full(len(groups), np.nan)
    for column in (quantity.lifetime, quantity.daily):
        if column == quantity.daily and not (source == INTEGRATED).any():
            break
        counted_kwh, counted_s = counter_totals(
            readings[column].to_numpy("float64"),
            intervals,
            grid,
            limits,
            steps_cache,
            daily=column == quantity.daily,
        )
        counted_kwh, counted_s = counted_kwh[groups], counted_s[groups]
        use = (
            (source == INTEGRATED)
            & (counted_s > 0)
            & (counted_s >= MIN_COUNTER_SPAN * powers_span_s)
        )
        total = np.where(use, counted_kwh, total)
        source = np.where(use, COUNTERS, source)
        known = np.where(counted_s > 0, counted_kwh, np.nan)
        counter_total = np.where(np.isnan(counter_total), known, counter_total)
    return total, source, counter_total


def _quarters_frame(
    intervals: Intervals,
    grid: DayGrid,
    quarter_grid: _QuarterGrid,
    buy: np.ndarray,
    sell: np.ndarray,
    quarter_energy: dict[str, np.ndarray],
) -> pd.DataFrame:
    """``DailyEnergy.quarters``: energies, prices and money per device, day and quarter hour."""
    day_count = len(grid.days)
    quarters = pd.DataFrame(
        {
            DEVICE_ID: [intervals.devices[g // day_count] for g in quarter_grid.group],
            "day": [grid.days[g % day_count] for g in quarter_grid.group],
            "time_start": pd.to_datetime(quarter_grid.slot * int(QUARTER_S), unit="s", utc=True),
            "buy_pln_kwh": buy,
            "sell_pln_kwh": sell,
            **{quantity.column: quarter_energy[quantity.name] for quantity in QUANTITIES},
        }
    )
    quarters["import_cost_pln"] = quarters["grid_import_kwh"] * quarters["buy_pln_kwh"]
    quarters["export_revenue_pln"] = quarters["grid_export_kwh"] * quarters["sell_pln_kwh"]
    return quarters


def _spread_over_quarters(
    total: np.ndarray,
    integrated_quarters: np.ndarray,
    integrated_total: np.ndarray,
    slots_per_group: np.ndarray,
) -> np.ndarray:
    """Each group's ``total`` over its quarter hours: in proportion to the integrated powers,
    or evenly where the powers integrate to nothing."""
    scale = np.divide(total, integrated_total, out=np.zeros_like(total), where=integrated_total > 0)
    even = np.divide(total, slots_per_group, out=np.zeros_like(total), where=slots_per_group > 0)
    even = np.where(integrated_total > 0, 0.0, even)
    return integrated_quarters * np.repeat(scale, slots_per_group) + np.repeat(
        even, slots_per_group
    )


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
    day_count: int
    first_slot: np.ndarray
    """First slot of each day."""
    slots_per_group: np.ndarray
    offsets: np.ndarray
    group: np.ndarray
    slot: np.ndarray

    @classmethod
    def build(cls, groups: np.ndarray, grid: DayGrid, now: datetime | None) -> _QuarterGrid:
        ends = grid.ends if now is None else np.minimum(grid.ends, max(now.timestamp(), 0.0))
        first = np.floor(grid.starts / QUARTER_S).astype("int64")
        last = np.maximum(np.ceil(ends / QUARTER_S).astype("int64"), first)
        day_count = len(grid.days)
        day = groups % day_count
        slots_per_group = last[day] - first[day]
        offsets = np.concatenate([[0], np.cumsum(slots_per_group)])
        within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], slots_per_group)
        slot = within + np.repeat(first[day], slots_per_group)
        return cls(
            groups,
            day_count,
            first,
            slots_per_group,
            offsets,
            np.repeat(groups, slots_per_group),
            slot,
        )

    def positions(self, group: np.ndarray, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid position of each (group, slot), and whether it lies inside the grid."""
        index = np.searchsorted(self.groups, group)
        position = self.offsets[index] + (slot - self.first_slot[group % self.day_count])
        inside = (position >= self.offsets[index]) & (position < self.offsets[index + 1])
        return position, inside


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

    tiny_kwh = 1e-12
    grid_import, grid_export, load = energy["grid_import"], energy["grid_export"], energy["load"]
    unpriced = ((grid_import > tiny_kwh) | (load > tiny_kwh)) & np.isnan(buy) | (
        grid_export > tiny_kwh
    ) & np.isnan(sell)
    missing = per_day(unpriced.astype("float64"))
    import_cost = per_day(np.nan_to_num(grid_import * buy))
    export_revenue = per_day(np.nan_to_num(grid_export * sell))
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
    grid_import, grid_export = frame["grid_import_kwh"], frame["grid_export_kwh"]
    frame["self_consumption_pct"] = (100.0 * (pv - grid_export) / pv.where(pv > 0)).clip(0.0, 100.0)
    frame["self_sufficiency_pct"] = (100.0 * (load - grid_import) / load.where(load > 0)).clip(
        0.0, 100.0
    )
    energy_in = pv + grid_import + frame["battery_discharge_kwh"]
    energy_out = load + grid_export + frame["battery_charge_kwh"]
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
