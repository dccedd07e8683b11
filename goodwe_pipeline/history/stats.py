"""Cross-checks of a migrated history against what the legacy folder says.

- The readings in the store against the distinct valid readings the files held
  (the migration's per-day summaries), per day and inverter.
- The share of files that could not be used.
- The collector's ``daily_stats_YYYYMMDD.json``: its own day totals. It integrated
  ``*_kw`` powers assuming a fixed poll interval and reset its totals whenever it
  restarted, so these figures are approximate; only PV production and house
  consumption are compared (its grid totals used a sign convention that changed
  between versions).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from goodwe_pipeline.common import days
from goodwe_pipeline.history.decode import DEFAULT_MAX_FILE_BYTES, file_text, load_json
from goodwe_pipeline.history.files import Unusable, read_regular
from goodwe_pipeline.history.formats import Format
from goodwe_pipeline.history.index import FileEntry, FolderIndex
from goodwe_pipeline.history.mapping import to_number
from goodwe_pipeline.readings import DEVICE_ID, SOURCE, SOURCE_LEGACY, TIME
from goodwe_pipeline.reports.daily import daily_energy

TOLERANCE = 0.05
COMPARED = (("pv", ("pv_production", "total_kwh")), ("load", ("house_consumption", "total_kwh")))


@dataclass(frozen=True)
class DailyStats:
    date: str | None
    totals: dict[str, float]
    """``pv`` and ``load`` kWh (NaN when the file lacks them)."""


def read_daily_stats(data: bytes) -> DailyStats | str:
    """The totals of a daily_stats file, or the reason it cannot be read."""
    try:
        document = load_json(file_text(data))
    except Unusable as exc:
        return str(exc)
    if not isinstance(document, dict):
        return "daily stats file does not hold an object"
    totals = {name: _number(document, path) for name, path in COMPARED}
    day = document.get("date")
    return DailyStats(day if isinstance(day, str) else None, totals)


def _number(document: dict[str, Any], path: tuple[str, str]) -> float:
    block = document.get(path[0])
    return to_number(block.get(path[1])) if isinstance(block, dict) else math.nan


def compare(
    stats: DailyStats, migrated: dict[str, float], tolerance: float = TOLERANCE
) -> list[dict[str, Any]]:
    """One row per quantity both sides know: legacy, migrated, difference and whether it is within tolerance.

    Differences are relative to the larger of the two; two values below 0.05 kWh agree.
    """
    rows = []
    for name, _ in COMPARED:
        legacy, ours = stats.totals.get(name, math.nan), migrated.get(name, math.nan)
        if legacy != legacy or ours != ours:
            continue
        scale = max(abs(legacy), abs(ours))
        difference = 0.0 if scale < 0.05 else abs(legacy - ours) / scale
        rows.append(
            {
                "quantity": name,
                "daily_stats_kwh": round(legacy, 3),
                "migrated_kwh": round(ours, 3),
                "difference_pct": round(100 * difference, 2),
                "ok": difference <= tolerance,
            }
        )
    return rows


def migrated_only(readings: pd.DataFrame) -> pd.DataFrame:
    """The readings that came from legacy files (``source=legacy``)."""
    return readings[readings[SOURCE] == SOURCE_LEGACY]


def local_day(readings: pd.DataFrame, tz: str) -> pd.Series:
    """The local calendar day of each reading."""
    return pd.to_datetime(readings[TIME], utc=True).dt.tz_convert(tz).dt.date


def source_mismatches(
    summaries: Mapping[date, Mapping[str, Any]],
    migrated: pd.DataFrame,
    first: date,
    last: date,
    tz: str,
) -> list[dict[str, Any]]:
    """Per day and inverter where the store does not hold exactly the readings the files held.

    ``summaries``: the migration's summary of each migrated day (``expected``: distinct
    valid readings per device). ``migrated``: the legacy readings in the store. A day
    without a summary was never migrated and is listed as such.
    """
    if migrated.empty:
        counts: dict[tuple[date, str], int] = {}
    else:
        grouped = migrated.groupby([local_day(migrated, tz).rename("day"), DEVICE_ID]).size()
        counts = {(d, str(device)): int(n) for (d, device), n in grouped.items()}
    rows = []
    for day in days.iter_days(first, last):
        summary = summaries.get(day)
        expected = dict(summary["expected"]) if summary else {}
        devices = set(expected) | {device for (d, device) in counts if d == day}
        for device in sorted(devices) or [""]:
            want = int(expected.get(device, 0))
            have = counts.get((day, device), 0)
            if summary is None or want != have:
                rows.append(
                    {
                        "day": day.isoformat(),
                        "device": device,
                        "in sources": want if summary else "not migrated",
                        "in store": have,
                    }
                )
    return rows


@dataclass(frozen=True)
class FileShare:
    files: int
    rejected: int
    by_format: pd.DataFrame
    """Columns ``format``, ``files``, ``rejected``."""

    @property
    def share(self) -> float:
        return self.rejected / self.files if self.files else 0.0


def rejected_file_share(summaries: Iterable[Mapping[str, Any]]) -> FileShare:
    """How many of the files behind the migrated days were unusable, per format."""
    by_format: dict[str, list[int]] = {}
    for summary in summaries:
        for name, count in summary["files"].items():
            by_format.setdefault(name, [0, 0])[0] += int(count)
        for name, count in summary["rejected_files"].items():
            by_format.setdefault(name, [0, 0])[1] += int(count)
    table = pd.DataFrame(
        [{"format": k, "files": v[0], "rejected": v[1]} for k, v in sorted(by_format.items())],
        columns=["format", "files", "rejected"],
    )
    return FileShare(
        files=sum(v[0] for v in by_format.values()),
        rejected=sum(v[1] for v in by_format.values()),
        by_format=table,
    )


def daily_stats_files(legacy_dir: Path, first: date, last: date) -> dict[date, FileEntry]:
    """The collector's ``daily_stats`` file of each day from ``first`` to ``last`` that has one."""
    return {
        entry.name_day: entry
        for entry in FolderIndex.scan(legacy_dir).of_format(Format.DAILY_STATS)
        if entry.name_day is not None and first <= entry.name_day <= last
    }


@dataclass(frozen=True)
class StatsComparison:
    rows: list[dict[str, Any]]
    """Per day and quantity: both totals, the difference and whether it is within tolerance."""
    unreadable: list[dict[str, str]]
    """``daily_stats`` files that could not be read: file and reason."""

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if not row["ok"]]


def compare_daily_stats(
    files: Mapping[date, FileEntry],
    migrated: pd.DataFrame,
    tz: str,
    tolerance: float = TOLERANCE,
) -> StatsComparison:
    """Each day's ``daily_stats`` totals against the same day computed from ``migrated``
    (the legacy readings of those days, a canonical frame)."""
    if not files:
        return StatsComparison([], [])
    energy = daily_energy(migrated, pd.DataFrame(), sorted(files), tz).days
    rows: list[dict[str, Any]] = []
    unreadable: list[dict[str, str]] = []
    for day, entry in sorted(files.items()):
        try:
            if entry.skipped:
                raise Unusable(entry.reason)
            stats = read_daily_stats(read_regular(entry.absolute, DEFAULT_MAX_FILE_BYTES))
        except Unusable as exc:
            stats = str(exc)
        if isinstance(stats, str):
            unreadable.append({"file": entry.path, "reason": stats})
            continue
        found = energy[energy["day"] == day]
        ours = {
            "pv": float(found["pv_kwh"].sum()) if not found.empty else math.nan,
            "load": float(found["load_kwh"].sum()) if not found.empty else math.nan,
        }
        rows.extend({"day": day.isoformat(), **row} for row in compare(stats, ours, tolerance))
    return StatsComparison(rows, unreadable)
