"""Which legacy file holds which days, without parsing every file for every day.

Listing a folder of hundreds of thousands of files is cheap; parsing them is
not. Almost every format carries its date in the file name (local time of
writing; a file's readings come before it was written, so a day's readings are
in files named that day or, just after midnight, the next). So a run lists the
names, ``stat``s only the files whose name dates fall in its range, and parses
only those. What a parse learns (the real time span, device, record counts,
outcome) is stored per file in the warehouse table ``migration_files``, keyed
by path with the size and mtime it had: an unchanged file is not re-examined to
find its span, and a changed one is.

Files without a usable name date (the SQLite database, ``session_records.json``,
names from a clock that was never set, e.g. 1970) are parsed once to learn
their span; later runs use the stored span.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goodwe_pipeline.history.formats import Format
from goodwe_pipeline.history.listing import legacy_names
from goodwe_pipeline.history.timestamps import from_us, to_us
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline.warehouse.reads import read_migration_files

TABLE = "migration_files"
EARLIEST_NAME_DATE = date(2010, 1, 1)
_US = 1_000_000


@dataclass
class FileEntry:
    """One legacy file: where it is, what it is, and what the index knows about it."""

    path: str
    """Relative to the legacy folder, with ``/`` separators (the key in ``migration_files``)."""
    absolute: str
    format: Format
    name_time: datetime | None
    size: int | None = None
    mtime: float | None = None
    stored: dict[str, Any] | None = None
    """The ``migration_files`` row as loaded, if any."""
    first_us: int | None = None
    last_us: int | None = None
    device_id: str | None = None
    records: int | None = None
    valid_records: int | None = None
    rejected_records: int | None = None
    outcome: str = "indexed"
    reason: str | None = None
    unchanged: bool = False
    """Same size and mtime as the stored row: its span and counts were taken from it."""
    parsed: bool = False
    """Parsed in this run (span and counts are fresh)."""
    migrated_at: datetime | None = None

    skipped: bool = False
    """Not read: not a file the folder rule admits, or it could not be ``stat``ed."""

    def skip(self, reason: str) -> None:
        """Mark the entry as not read, rejected with ``reason`` (its own ``lstat`` as size and
        mtime, so the stored row changes when the entry does)."""
        self.skipped, self.outcome, self.reason = True, "rejected", reason
        self.parsed = True
        try:
            info = os.lstat(self.absolute)
        except OSError:
            self.size, self.mtime = 0, 0.0
        else:
            self.size, self.mtime = info.st_size, info.st_mtime

    @property
    def name_day(self) -> date | None:
        if self.name_time is None or self.name_time.date() < EARLIEST_NAME_DATE:
            return None
        return self.name_time.date()

    @property
    def mtime_us(self) -> int | None:
        return None if self.mtime is None else int(self.mtime * _US)

    def stat(self) -> bool:
        """Read size and mtime; False when the file vanished or cannot be read."""
        try:
            info = os.stat(self.absolute)
        except OSError:
            return False
        self.size, self.mtime = info.st_size, info.st_mtime
        return True

    def adopt_stored(self) -> None:
        """Take span and counts from the stored row when the file is unchanged."""
        row = self.stored
        if row is None or self.size is None:
            return
        if int(row["size"]) != self.size or abs(float(row["mtime"]) - float(self.mtime)) > 1e-6:
            return
        self.first_us = _row_us(row.get("first_time"))
        self.last_us = _row_us(row.get("last_time"))
        self.device_id = row.get("device_id")
        self.records = _int(row.get("records"))
        self.valid_records = _int(row.get("valid_records"))
        self.rejected_records = _int(row.get("rejected_records"))
        self.outcome = row.get("outcome") or "indexed"
        self.reason = row.get("reason")
        self.unchanged = True

    def overlaps(self, start_us: int, end_us: int) -> bool:
        return (
            self.first_us is not None
            and self.last_us is not None
            and self.first_us < end_us
            and self.last_us >= start_us
        )

    def row(self, now: datetime) -> dict[str, Any]:
        stored = self.stored or {}
        return {
            "path": self.path,
            "size": int(self.size or 0),
            "mtime": float(self.mtime or 0.0),
            "format": str(self.format),
            "device_id": self.device_id,
            "first_time": _us_time(self.first_us),
            "last_time": _us_time(self.last_us),
            "records": self.records,
            "valid_records": self.valid_records,
            "rejected_records": self.rejected_records,
            "outcome": self.outcome,
            "reason": self.reason,
            "indexed_at": _as_datetime(stored.get("indexed_at")) if self.unchanged else now,
            "migrated_at": self.migrated_at or _as_datetime(stored.get("migrated_at")),
        }

    def changed_from_stored(self, row: dict[str, Any]) -> bool:
        """Whether saving ``row`` (this entry's ``row()``) would change the stored row
        (timestamps aside)."""
        stored = self.stored
        if stored is None:
            return True
        for key in _COMPARED:
            if row[key] != _plain(stored.get(key)):
                return True
        if abs(row["mtime"] - float(stored.get("mtime") or 0.0)) > 1e-6:
            return True
        return (
            _row_us(stored.get("first_time")) != self.first_us
            or _row_us(stored.get("last_time")) != self.last_us
        )


_COMPARED = (
    "size",
    "format",
    "device_id",
    "records",
    "valid_records",
    "rejected_records",
    "outcome",
    "reason",
)


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _as_datetime(value: Any) -> datetime | None:
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    value = _plain(value)
    return None if value is None else int(value)


def _row_us(value: Any) -> int | None:
    if type(value) is datetime and value.tzinfo is not None:
        return to_us(value)
    value = _plain(value)
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return to_us(value if value.tzinfo else value.replace(tzinfo=UTC))
    return None


def _us_time(us: int | None) -> datetime | None:
    return None if us is None else from_us(us)


@dataclass
class FolderIndex:
    """The recognised files of one legacy folder, with what ``migration_files`` knows of them."""

    legacy_dir: Path
    entries: list[FileEntry] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @classmethod
    def scan(cls, legacy_dir: Path) -> FolderIndex:
        index = cls(legacy_dir)
        for relative, absolute, detected, reason in legacy_names(legacy_dir):
            if detected is None:
                index.unreadable.append(f"{relative}: {reason}")
                continue
            entry = FileEntry(relative, absolute, detected.format, detected.name_time)
            if reason is not None:
                entry.skip(reason)
            index.entries.append(entry)
        index.entries.sort(key=lambda e: e.path)
        return index

    def of_format(self, *formats: Format) -> list[FileEntry]:
        wanted = set(formats)
        return [e for e in self.entries if e.format in wanted]

    def select(
        self, formats: Iterable[Format], first: date, last: date, *, margin_after: int = 1
    ) -> list[FileEntry]:
        """Files of ``formats`` that may hold data of ``first``..``last``, before reading the index:
        name date in ``first``..``last + margin_after``, or no usable name date."""
        wanted = set(formats)
        high = last + timedelta(days=margin_after)
        chosen = []
        for entry in self.entries:
            if entry.format not in wanted:
                continue
            day = entry.name_day
            if day is None or first <= day <= high:
                chosen.append(entry)
        return chosen

    def load(self, warehouse: Warehouse, entries: list[FileEntry]) -> None:
        """``stat`` the entries and attach their stored rows (unchanged files adopt span and
        counts). An entry that is skipped, or cannot be ``stat``ed, is marked rejected."""
        present = []
        for entry in entries:
            if entry.skipped:
                continue
            if entry.stat():
                present.append(entry)
            else:
                entry.skip("the file vanished or cannot be read")
        stored = read_migration_files(warehouse, [e.path for e in entries])
        for entry in entries:
            entry.stored = stored.get(entry.path)
        for entry in present:
            entry.adopt_stored()


def save(warehouse: Warehouse, entries: Iterable[FileEntry], now: datetime | None = None) -> int:
    """Upsert the rows of entries whose stored row would change; returns rows written."""
    moment = now or datetime.now(UTC)
    rows = []
    for entry in entries:
        row = entry.row(moment)
        if entry.changed_from_stored(row):
            rows.append(row)
    if not rows:
        return 0
    return warehouse.upsert(TABLE, rows)
