"""Placing a reading of the repeated autumn hour by its lifetime counters.

When a file does not prove which occurrence of the repeated hour a reading
belongs to (see ``timestamps.unproven``), its monotonic lifetime counters
(``*_total_kwh``) can: at its true instant each counter lies between the values
of the readings just before and just after it. The reading is checked at both
candidate instants against the day's *proven* readings of its device (those
outside the repeated hour and those whose file proves their occurrence):

- it fits exactly one instant: it is placed there;
- it fits both (the counters did not move enough to tell), fits neither, or has
  no counter with a neighbour to compare: it is rejected with that reason, never
  guessed.

A counter only rises, so a reading always fits its true instant (within
``TOLERANCE_KWH`` of rounding between sources); the rule can reject a reading but
cannot put one at another instant's place.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from goodwe_pipeline.readings import FIELD_NAMES, LIFETIME_COUNTERS

TOLERANCE_KWH = 0.01
"""Two copies of one reading may round a counter differently (2 or 3 decimals)."""
_COUNTERS = tuple(FIELD_NAMES.index(name) for name in LIFETIME_COUNTERS)


class Timeline:
    """The lifetime counters of proven readings, per device: sorted times and values."""

    def __init__(self, readings: Iterable[tuple[tuple[str, int], list[float]]]):
        series: dict[tuple[str, int], list[tuple[int, float]]] = {}
        for (device, utc_us), values in readings:
            for index in _COUNTERS:
                value = values[index]
                if not math.isnan(value):
                    series.setdefault((device, index), []).append((utc_us, value))
        self._times: dict[tuple[str, int], list[int]] = {}
        self._values: dict[tuple[str, int], list[float]] = {}
        for key, points in series.items():
            points.sort()
            self._times[key] = [t for t, _ in points]
            self._values[key] = [v for _, v in points]

    def fits(self, device: str, utc_us: int, values: list[float]) -> tuple[bool, bool]:
        """``(every counter lies between its neighbours, at least one counter had one)``."""
        evidence = False
        for index in _COUNTERS:
            value = values[index]
            times = self._times.get((device, index))
            if times is None or math.isnan(value):
                continue
            known = self._values[(device, index)]
            before = bisect_right(times, utc_us)
            after = bisect_left(times, utc_us)
            if before:
                evidence = True
                if value < known[before - 1] - TOLERANCE_KWH:
                    return False, True
            if after < len(times):
                evidence = True
                if value > known[after] + TOLERANCE_KWH:
                    return False, True
        return True, evidence

    def place(
        self, device: str, first_us: int, second_us: int, values: list[float]
    ) -> tuple[int | None, str | None]:
        """The instant the counters put the reading at, or None and why not."""
        first, evidence_first = self.fits(device, first_us, values)
        second, evidence_second = self.fits(device, second_us, values)
        if not (evidence_first or evidence_second):
            return None, "repeated autumn hour: no lifetime counter tells its occurrence"
        if first and not second:
            return first_us, None
        if second and not first:
            return second_us, None
        if first:
            return None, "repeated autumn hour: its lifetime counters fit both occurrences"
        return None, "repeated autumn hour: its lifetime counters fit neither occurrence"
