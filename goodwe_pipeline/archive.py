"""The cold copy of the raw readings: one zstd Parquet file per local day and device.

Layout: ``<data dir>/archive/<YYYY-MM-DD>/<device>.parquet`` (the day is the local
calendar day of ``GOODWE_TIMEZONE``; the device id percent-encoded as in the Parquet raw
store). InfluxDB may drop old readings after its retention period; the archive keeps
them, and ``restore`` writes them back.

Archiving a day again merges what the raw store has now into the file (the store's
values win for a reading both hold), so a re-run after the store forgot a day never
empties its archive. Files are written to a temporary name, fsynced and renamed, so a
reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote, unquote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from goodwe_pipeline import days as days_mod
from goodwe_pipeline import readings
from goodwe_pipeline.raw_store.base import RawStore

ARCHIVE_DIR = "archive"
SUFFIX = ".parquet"
COMPRESSION = "zstd"
SCHEMA = pa.schema(
    [
        pa.field(readings.TIME, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(readings.DEVICE_ID, pa.string(), nullable=False),
        pa.field(readings.SOURCE, pa.string(), nullable=False),
        *(pa.field(name, pa.float64()) for name in readings.FIELD_NAMES),
    ]
)
"""The canonical reading as Arrow types: unknown fields are NaN, as in the readings."""


def file_name(device_id: str) -> str:
    """A device's file name: its id percent-encoded, so any id is a safe file name."""
    return quote(device_id, safe="") + SUFFIX


@dataclass(frozen=True)
class ArchivedFile:
    day: date
    device_id: str
    path: Path
    rows: int
    """Rows in the file after this write."""
    added: int
    """Rows the file did not hold before."""
    bytes: int


@dataclass(frozen=True)
class RestoredDay:
    day: date
    files: int
    rows: int


def archive_root(data_dir: str | Path) -> Path:
    return Path(data_dir) / ARCHIVE_DIR


class Archive:
    """Archived days under ``root`` (usually ``<data dir>/archive``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()

    def day_dir(self, day: date) -> Path:
        return self.root / day.isoformat()

    def path(self, day: date, device_id: str) -> Path:
        return self.day_dir(day) / file_name(device_id)

    def days(self, start: date | None = None, end: date | None = None) -> list[date]:
        """Archived days between ``start`` and ``end`` (inclusive), oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in os.scandir(self.root):
            try:
                day = date.fromisoformat(entry.name)
            except ValueError:
                continue
            if entry.is_dir() and (start is None or day >= start) and (end is None or day <= end):
                found.append(day)
        return sorted(found)

    def files(self, day: date) -> Iterator[tuple[str, Path]]:
        folder = self.day_dir(day)
        if not folder.is_dir():
            return
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(SUFFIX) and not entry.name.startswith("."):
                yield unquote(entry.name[: -len(SUFFIX)]), Path(entry.path)

    def read_day(self, day: date) -> pd.DataFrame:
        """Every archived reading of ``day`` as one canonical frame."""
        frames = [read_file(path) for _, path in self.files(day)]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return readings.empty_frame()
        return readings.normalize(pd.concat(frames, ignore_index=True))

    def write_day(self, day: date, day_readings: pd.DataFrame) -> list[ArchivedFile]:
        """Merge ``day_readings`` (of this local day) into the day's files, one per device."""
        if day_readings.empty:
            return []
        written = []
        frame = readings.normalize(day_readings)
        for device, part in frame.groupby(readings.DEVICE_ID, sort=True):
            written.append(self._merge_write(day, str(device), part))
        return written

    def _merge_write(self, day: date, device: str, new: pd.DataFrame) -> ArchivedFile:
        path = self.path(day, device)
        path.parent.mkdir(parents=True, exist_ok=True)
        before = 0
        merged = new
        if path.exists():
            old = read_file(path)
            before = len(old)
            if not old.empty:
                merged = readings.normalize(pd.concat([old, new], ignore_index=True))
        table = pa.Table.from_pandas(
            merged[list(readings.COLUMNS)].reset_index(drop=True),
            schema=SCHEMA,
            preserve_index=False,
        )
        temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, temporary, compression=COMPRESSION)
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return ArchivedFile(
            day=day,
            device_id=device,
            path=path,
            rows=len(merged),
            added=len(merged) - before,
            bytes=path.stat().st_size,
        )


def read_file(path: Path) -> pd.DataFrame:
    """One archive file as a canonical frame."""
    return readings.normalize(pq.read_table(path).to_pandas())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def archive_days(
    store: RawStore, archive: Archive, days: list[date], tz: str
) -> list[ArchivedFile]:
    """Copy each local day's readings from the raw store into the archive."""
    written: list[ArchivedFile] = []
    for day in days:
        start, end = days_mod.day_window(day, tz)
        written.extend(archive.write_day(day, store.read(start, end)))
    return written


def restore(store: RawStore, archive: Archive, start: date, end: date) -> list[RestoredDay]:
    """Write the archived days from ``start`` to ``end`` (inclusive) back into the raw store.

    Store writes replace readings with the same device and time, so restoring twice
    leaves the store as restoring once.
    """
    if end < start:
        raise ValueError(f"restore range ends ({end}) before it starts ({start})")
    restored = []
    for day in archive.days(start, end):
        files = 0
        rows = 0
        for _, path in archive.files(day):
            frame = read_file(path)
            if frame.empty:
                continue
            rows += store.write(frame)
            files += 1
        restored.append(RestoredDay(day=day, files=files, rows=rows))
    return restored
