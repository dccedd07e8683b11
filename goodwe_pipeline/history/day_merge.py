"""One local day's readings from every file that holds some: one reading per (device, instant).

The first file (in ``formats.READING_FORMATS`` order) gives a reading its values; a copy in a
later file only fills the fields still missing. Readings in a repeated autumn hour that their
file does not place wait until every file of the day is merged, then are placed by their
lifetime counters (``placement.Timeline``) or rejected.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from goodwe_pipeline.history.index import FileEntry
from goodwe_pipeline.history.mapping import NAN
from goodwe_pipeline.history.placement import Timeline
from goodwe_pipeline.history.records import FileReadings

STORE_RESOLUTION_US = 1_000
"""The raw stores keep milliseconds; readings are told apart at that resolution too."""


@dataclass
class DaySummary:
    day: date
    expected: dict[str, int] = field(default_factory=dict)
    """Distinct valid readings in the sources, per device."""
    written: int = 0
    duplicates: int = 0
    rejected_records: int = 0
    files: Counter[str] = field(default_factory=Counter)
    rejected_files: Counter[str] = field(default_factory=Counter)

    @property
    def expected_total(self) -> int:
        return sum(self.expected.values())

    def report(self) -> dict[str, Any]:
        return {
            "expected": dict(self.expected),
            "written": self.written,
            "duplicates": self.duplicates,
            "rejected_records": self.rejected_records,
            "files": dict(self.files),
            "rejected_files": dict(self.rejected_files),
        }


@dataclass
class FileContributions:
    """Per file path, over a whole run: readings it gave first, and copies of known ones."""

    new: Counter[str] = field(default_factory=Counter)
    repeated: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Unplaced:
    """A repeated-hour reading its file does not place, with its two candidate instants."""

    entry: FileEntry
    readings: FileReadings
    device: str
    first_us: int
    second_us: int
    values: list[float]


class DayMerge:
    """The readings of one day (UTC ``start_us`` <= time < ``end_us``), merged file by file."""

    def __init__(
        self,
        day: date,
        start_us: int,
        end_us: int,
        default_device: str,
        contributions: FileContributions,
    ):
        self.summary = DaySummary(day)
        self.start_us = start_us
        self.end_us = end_us
        self.default_device = default_device
        self.contributions = contributions
        self.merged: dict[tuple[str, int], list[float]] = {}
        self._unplaced: list[_Unplaced] = []

    def add_file(self, entry: FileEntry, readings: FileReadings) -> bool:
        """Add a file's readings of the day; True when it had any.

        A snapshot's ``repeats`` are only counted: the chain guarantees the same
        bytes were read from the previous snapshot, which sorts (and merges) first.
        Readings whose repeated-hour occurrence the file does not prove wait for
        ``place_unplaced``.
        """
        if readings.error or readings.first_us is None:
            return False
        start_us, end_us = self.start_us, self.end_us
        if readings.last_us < start_us or readings.first_us >= end_us:
            return False
        repeats = readings.repeats
        duplicates = bisect_left(repeats, end_us) - bisect_left(repeats, start_us) if repeats else 0
        new = 0
        uncertain = readings.uncertain
        for position, (reading_device, utc_us, values) in enumerate(readings.readings):
            if utc_us < start_us or utc_us >= end_us:
                continue
            device = reading_device or self.default_device
            if uncertain and position in uncertain:
                first_us, second_us = uncertain[position]
                self._unplaced.append(
                    _Unplaced(entry, readings, device, first_us, second_us, values)
                )
                continue
            if self._keep(device, utc_us, values):
                new += 1
            else:
                duplicates += 1
        self.contributions.new[entry.path] += new
        self.contributions.repeated[entry.path] += duplicates
        self.summary.duplicates += duplicates
        return bool(new or duplicates)

    def place_unplaced(self, dst: Counter[str]) -> None:
        """Place each unplaced reading where its lifetime counters fit among the day's placed
        readings (``placement.Timeline``), or reject it with the reason."""
        if not self._unplaced:
            return
        timeline = Timeline(self.merged.items())
        for item in self._unplaced:
            utc_us, reason = timeline.place(item.device, item.first_us, item.second_us, item.values)
            if utc_us is None:
                item.readings.drop(reason)
                self.summary.rejected_records += 1
                dst["ambiguous_rejected"] += 1
                continue
            dst["ambiguous_counters"] += 1
            if self._keep(item.device, utc_us, item.values):
                self.contributions.new[item.entry.path] += 1
            else:
                self.contributions.repeated[item.entry.path] += 1
                self.summary.duplicates += 1
        self._unplaced = []

    def count_expected(self) -> None:
        expected = self.summary.expected
        for device, _ in self.merged:
            expected[device] = expected.get(device, 0) + 1

    def _keep(self, device: str, utc_us: int, values: list[float]) -> bool:
        """Keep a reading of ``device`` at ``utc_us``: True when new, False when a copy (its
        values then only fill the kept reading's missing fields)."""
        key = (device, utc_us - utc_us % STORE_RESOLUTION_US)
        existing = self.merged.get(key)
        if existing is None:
            self.merged[key] = values
            return True
        if existing is not values:
            filled = _fill(existing, values)
            if filled is not None:
                self.merged[key] = filled
        return False


def _fill(existing: list[float], values: list[float]) -> list[float] | None:
    """``existing`` with its unknown fields (the shared ``NAN``) taken from ``values``; None when
    nothing changes."""
    if existing == values or NAN not in existing:
        return None
    filled = [b if a is NAN else a for a, b in zip(existing, values, strict=True)]
    return None if filled == existing else filled
