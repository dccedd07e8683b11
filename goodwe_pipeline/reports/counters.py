"""What an inverter's energy counter says a device used or produced each day.

The energy is the sum of the increments between consecutive known readings
(``CounterSteps``). A counter that drops to near zero was reset (the increment is its new
value). Between resets a counter never goes back, so it is read through the largest set of
its readings whose values never decrease (``monotone_readings``); the readings left out
count nothing. That way a short up-and-back *excursion* (a value above readings after it,
the counter later returning below it) adds nothing whatever its size, and so does a dip (a
value below readings before it); of an excursion and a dip as long as each other, the lower
values are kept. An excursion is recognised once the counter has more readings after it
than the excursion lasted. A rise faster than 3x the rated power could produce is a glitch
too and adds nothing. An increment spanning midnight is shared between the days in
proportion to time; a daily counter's reset at midnight belongs wholly to the later day.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from goodwe_pipeline.reports.quality import DayGrid, Intervals, Limits


@dataclass(frozen=True)
class CounterSteps:
    """Consecutive known values of a counter: the time steps between them and the days
    they fall in. The same for every counter known at every reading, so built once."""

    known_at: np.ndarray | None
    start_s: np.ndarray
    end_s: np.ndarray
    duration_s: np.ndarray
    device: np.ndarray
    end_day: np.ndarray
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
    def build(
        cls, intervals: Intervals, grid: DayGrid, limits: Limits, known_at: np.ndarray | None
    ) -> CounterSteps:
        day_count = len(grid.days)
        group_count = len(intervals.devices) * day_count
        pick = (lambda a: a) if known_at is None else (lambda a: a[known_at])
        seconds = pick(intervals.seconds)
        device_code = pick(intervals.device_codes)
        day = pick(intervals.day)
        same = device_code[1:] == device_code[:-1]
        duration_s = np.diff(seconds)
        start_day = day[:-1]
        end_day = _day_before_end(day[1:], seconds[1:], grid)
        whole = same & (start_day == end_day) & (start_day >= 0)
        keys = np.where(whole, device_code[:-1] * day_count + start_day, 0)
        span = np.bincount(keys, weights=np.where(whole, duration_s, 0.0), minlength=group_count)
        crossing = same & ~whole & (duration_s > 0)
        max_increment = limits.max_counter_step_kwh(duration_s)
        return cls(
            known_at,
            seconds[:-1],
            seconds[1:],
            duration_s,
            device_code[:-1],
            end_day,
            whole,
            keys,
            span,
            crossing,
            max_increment,
        )


def counter_totals(
    values: np.ndarray,
    intervals: Intervals,
    grid: DayGrid,
    limits: Limits,
    steps_cache: dict[str, CounterSteps],
    *,
    daily: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Energy and time span (s) a counter accounts for, per group key (device * days + day).

    A counter's readings outside ``monotone_readings`` count as unknown."""
    values = _without_excursions(values, intervals, limits)
    day_count = len(grid.days)
    group_count = len(intervals.devices) * day_count
    known = ~np.isnan(values)
    if known.sum() < 2:
        return np.zeros(group_count), np.zeros(group_count)
    if known.all():
        if "all" not in steps_cache:
            steps_cache["all"] = CounterSteps.build(intervals, grid, limits, None)
        steps, known_values = steps_cache["all"], values
    else:
        known_at = np.flatnonzero(known)
        steps, known_values = (
            CounterSteps.build(intervals, grid, limits, known_at),
            values[known_at],
        )
    delta = np.diff(known_values)
    after = known_values[1:]
    dropped = delta < 0
    reset = dropped & (after <= steps.max_increment)
    increment = np.where(dropped, after, delta)
    increment[(increment > steps.max_increment) | (dropped & ~reset)] = 0.0
    total = np.bincount(
        steps.keys, weights=np.where(steps.whole, increment, 0.0), minlength=group_count
    )
    span = steps.span.copy()
    crossing = steps.crossing
    if daily:
        # A daily counter restarts at midnight: what it shows after the reset is the later day's.
        to_end = steps.crossing & reset & (steps.end_day >= 0)
        if to_end.any():
            end_keys = steps.device[to_end] * day_count + steps.end_day[to_end]
            total += np.bincount(end_keys, weights=increment[to_end], minlength=group_count)
            since_midnight = steps.end_s[to_end] - grid.starts[steps.end_day[to_end]]
            span += np.bincount(end_keys, weights=since_midnight, minlength=group_count)
            crossing = crossing & ~to_end
    candidates = np.flatnonzero(crossing)
    start_s, end_s, duration_s = steps.start_s, steps.end_s, steps.duration_s
    first = np.searchsorted(grid.ends, start_s[candidates], side="right")
    last = np.searchsorted(grid.starts, end_s[candidates], side="left")
    for i, lo, hi in zip(candidates, first, last, strict=True):
        for day_index in range(lo, hi):
            overlap = min(end_s[i], grid.ends[day_index]) - max(start_s[i], grid.starts[day_index])
            if overlap > 0:
                key = steps.device[i] * day_count + day_index
                total[key] += increment[i] * overlap / duration_s[i]
                span[key] += overlap
    return total, span


def _without_excursions(values: np.ndarray, intervals: Intervals, limits: Limits) -> np.ndarray:
    """``values`` with the readings outside ``monotone_readings`` unknown (NaN), within each
    device's run between resets (a drop to at most what the rated power could add in
    the time since the reading before, plus the counter's resolution)."""
    known_at = np.flatnonzero(~np.isnan(values))
    if len(known_at) < 3:
        return values
    known_values = values[known_at]
    device = intervals.device_codes[known_at]
    seconds = intervals.seconds[known_at]
    dropped = (np.diff(known_values) < 0) & (device[1:] == device[:-1])
    if not dropped.any():
        return values
    reset = dropped & (known_values[1:] <= limits.max_counter_step_kwh(np.diff(seconds)))
    if not (dropped & ~reset).any():
        return values
    boundary = np.flatnonzero(reset | (device[1:] != device[:-1])) + 1
    starts = np.concatenate([[0], boundary])
    ends = np.concatenate([boundary, [len(known_values)]])
    glitch_at = np.flatnonzero(dropped & ~reset) + 1
    out = values.copy()
    for lo, hi in zip(starts, ends, strict=True):
        if not ((glitch_at > lo) & (glitch_at < hi)).any():
            continue
        out[known_at[lo:hi][~monotone_readings(known_values[lo:hi])]] = np.nan
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
        position = bisect_right(tails, value)
        if position:
            parent[i] = tail_index[position - 1]
        if position == len(tails):
            tails.append(value)
            tail_index.append(i)
        else:
            tails[position] = value
            tail_index[position] = i
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
