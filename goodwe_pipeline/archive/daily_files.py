"""The cold copy of the raw readings: one zstd Parquet file per local day and device.

Layout: ``<data dir>/archive/<YYYY-MM-DD>/<device>.parquet`` (the day is the local
calendar day of ``GOODWE_TIMEZONE``; the device id percent-encoded as in the Parquet raw
store). InfluxDB may drop old readings after its retention period; the archive keeps
them, and ``restore`` writes them back.

Archiving a day again merges what the raw store has now into the file (the store's
values win for a reading both hold), so a re-run after the store forgot a day never
empties its archive. Files are written the Parquet raw store's way (same Arrow schema,
file names and atomic write: a temporary name, fsynced and renamed, so a reader sees the
old file or the new one, never half of one), under its lock on the day folder, so two
runs archiving the same day cannot lose each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from goodwe_pipeline import readings
from goodwe_pipeline.common import days as days_mod
from goodwe_pipeline.raw_store.arrow import conform, frame_to_table, table_to_frame
from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.raw_store.parquet import SUFFIX, device_of, file_name, locked, write_file

ARCHIVE_DIR = "archive"
COMPRESSION = "zstd"


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
                yield device_of(entry.name), Path(entry.path)

    def read_day(self, day: date) -> pd.DataFrame:
        """Every archived reading of ``day`` as one canonical frame."""
        frames = [read_file(path) for _, path in self.files(day)]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return readings.empty_frame()
        return readings.normalize(pd.concat(frames, ignore_index=True))

    def write_day(self, day: date, day_readings: pd.DataFrame) -> list[ArchivedFile]:
        """Merge ``day_readings`` (of this local day) into the day's files, one per device.

        A device id too long for a file name is refused before any file is written.
        """
        if day_readings.empty:
            return []
        frame = readings.normalize(day_readings)
        parts = [(str(device), part) for device, part in frame.groupby(readings.DEVICE_ID)]
        for device, _ in parts:
            file_name(device)
        folder = self.day_dir(day)
        folder.mkdir(parents=True, exist_ok=True)
        with locked(folder) as folder_fd:
            written = [self._merge_write(folder, day, device, part) for device, part in parts]
            os.fsync(folder_fd)
        return written

    def _merge_write(self, folder: Path, day: date, device: str, new: pd.DataFrame) -> ArchivedFile:
        """Merge ``new`` into the device's file (the caller holds the folder's lock)."""
        name = file_name(device)
        path = folder / name
        old = read_file(path) if path.exists() else None  # an empty frame costs ~50 ms to build
        merged = (
            new
            if old is None or old.empty
            else readings.normalize(pd.concat([old, new], ignore_index=True))
        )
        table = frame_to_table(merged)
        write_file(
            folder, name, lambda target: pq.write_table(table, target, compression=COMPRESSION)
        )
        return ArchivedFile(
            day=day,
            device_id=device,
            path=path,
            rows=len(merged),
            added=len(merged) - (0 if old is None else len(old)),
            bytes=path.stat().st_size,
        )


def read_file(path: Path) -> pd.DataFrame:
    """One archive file as a canonical frame (fields added since it was written are NaN)."""
    return table_to_frame(conform(pq.read_table(path)))


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
