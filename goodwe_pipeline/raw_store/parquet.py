"""Readings in Parquet files: the embedded raw store (no server needed).

Layout: ``root/<YYYY-MM-DD>/<device id>.parquet``, one file per UTC day and
device, the device id percent-encoded so any id is a safe file name. Files
hold the canonical columns and dtypes, sorted by time, with unknown fields
stored as NaN values (not nulls), so a read is a plain Arrow read and a
zero-copy conversion, with no re-normalising.

A write merges into the day's file the way InfluxDB merges points: for a
(device, time) already there, the fields the new reading knows overwrite, the
ones it does not know keep their old values. The merged file is written to a
temporary file in the same folder, fsynced and renamed over the old one, so a
reader sees the old or the new file, never half of one. Writers (the sensor,
a backfill, another process) take an exclusive ``flock`` on the day folder, so
none loses another's rows. What is kept is decided by ``raw_store.prepare``,
shared with the InfluxDB store.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from goodwe_pipeline import readings
from goodwe_pipeline.raw_store.arrow import conform, frame_to_table, table_to_frame
from goodwe_pipeline.raw_store.base import Health, RawStore, StoreUnavailableError
from goodwe_pipeline.raw_store.prepare import prepare

SUFFIX = ".parquet"
_MAX_FILE_NAME = 255
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000


def file_name(device_id: str) -> str:
    """The file name of a device's day file (percent-encoded id)."""
    name = quote(device_id, safe="") + SUFFIX
    if len(name.encode()) > _MAX_FILE_NAME:
        raise ValueError(f"device_id {device_id[:40]!r}... is too long to be a file name")
    return name


def _device_of(path: Path) -> str:
    return unquote(path.name[: -len(SUFFIX)])


def _epoch_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("read bounds must be timezone-aware datetimes")
    return (moment - _EPOCH) // timedelta(microseconds=1)


@contextmanager
def _locked(folder: Path) -> Iterator[int]:
    """Exclusive lock on a day folder (held by this process until released)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """InfluxDB's merge: per (time), known new fields overwrite, unknown ones keep old values."""
    old_times = old[readings.TIME].dt.tz_convert(None).to_numpy()
    new_times = new[readings.TIME].dt.tz_convert(None).to_numpy()
    if not np.isin(new_times, old_times).any():
        merged = pd.concat([old, new], ignore_index=True)
        return merged.sort_values(readings.TIME, kind="stable").reset_index(drop=True)
    merged = new.set_index(readings.TIME).combine_first(old.set_index(readings.TIME))
    return merged.reset_index()[list(readings.COLUMNS)]


def _covers(day: date, start_us: int, end_us: int) -> bool:
    day_start = (day - _EPOCH.date()).days * _DAY_US
    return start_us <= day_start and day_start + _DAY_US <= end_us


def _within(table: pa.Table, day: date, start_us: int, end_us: int) -> pa.Table:
    """The rows of a day file in ``[start_us, end_us)``; a day inside the range needs no filter."""
    if _covers(day, start_us, end_us):
        return table
    times = table.column(readings.TIME)
    inside = pc.and_(
        pc.greater_equal(times, pa.scalar(start_us, times.type)),
        pc.less(times, pa.scalar(end_us, times.type)),
    )
    return table.filter(inside)


class ParquetRawStore(RawStore):
    """Canonical readings in ``root/<YYYY-MM-DD>/<device>.parquet`` (UTC days)."""

    kind = "parquet"

    def __init__(self, root: str | Path, *, compression: str = "zstd"):
        self.root = Path(root).absolute()
        self.compression = compression

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def _unavailable(self, exc: OSError | pa.ArrowException, action: str) -> StoreUnavailableError:
        return StoreUnavailableError(self.url, f"{action} failed: {exc}")

    # -- writing --------------------------------------------------------------

    def write(self, readings_frame: pd.DataFrame) -> int:
        frame = prepare(readings_frame).frame
        if frame.empty:
            return 0
        for device in pd.unique(frame[readings.DEVICE_ID]):
            file_name(device)
        days = frame[readings.TIME].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
        try:
            for (day, device), part in frame.groupby([days, readings.DEVICE_ID], sort=True):
                folder = self.root / pd.Timestamp(day).date().isoformat()
                self._merge_into(folder, str(device), part.reset_index(drop=True))
        except (OSError, pa.ArrowException) as exc:
            raise self._unavailable(exc, "writing") from exc
        return len(frame)

    def _merge_into(self, folder: Path, device: str, new: pd.DataFrame) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(device)
        with _locked(folder) as folder_fd:
            merged = _merge(self._read_file(path), new) if path.exists() else new
            temporary = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
            try:
                pq.write_table(frame_to_table(merged), temporary, compression=self.compression)
                with open(temporary, "rb+") as handle:
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
            os.fsync(folder_fd)

    # -- reading --------------------------------------------------------------

    @staticmethod
    def _read_file(path: Path) -> pd.DataFrame:
        return table_to_frame(conform(pq.read_table(path)))

    def _day_folders(self, start: datetime, end: datetime) -> list[tuple[date, Path]]:
        """Existing day folders that may hold readings in ``[start, end)``."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        first = start.astimezone(UTC).date()
        last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
        found = []
        for entry in entries:
            try:
                day = date.fromisoformat(entry.name)
            except ValueError:
                continue
            if first <= day <= last and entry.is_dir():
                found.append((day, Path(entry.path)))
        return sorted(found)

    def _files(
        self, start: datetime, end: datetime, device_ids: list[str] | None
    ) -> list[tuple[str, date, Path]]:
        """(device, day, path) of every file that may hold wanted readings, in read order."""
        files = []
        wanted = None
        if device_ids is not None:
            wanted = {}
            for device in device_ids:
                try:
                    wanted[file_name(device)] = device
                except ValueError:
                    continue  # an id too long to have a file has no readings
        for day, folder in self._day_folders(start, end):
            if wanted is not None:
                for name, device in wanted.items():
                    if (folder / name).exists():
                        files.append((device, day, folder / name))
                continue
            for entry in os.scandir(folder):
                if entry.name.endswith(SUFFIX) and not entry.name.startswith("."):
                    path = Path(entry.path)
                    files.append((_device_of(path), day, path))
        files.sort(key=lambda item: (item[0], item[1]))
        return files

    def _read_tables(
        self, start: datetime, end: datetime, device_ids: list[str] | None
    ) -> pa.Table | None:
        start_us, end_us = _epoch_us(start), _epoch_us(end)
        if end_us <= start_us or (device_ids is not None and not device_ids):
            return None
        tables = []
        try:
            for _, day, path in self._files(start, end, device_ids):
                table = _within(conform(pq.read_table(path)), day, start_us, end_us)
                if table.num_rows:
                    tables.append(table)
        except (OSError, pa.ArrowException) as exc:
            raise self._unavailable(exc, "reading") from exc
        return pa.concat_tables(tables) if tables else None

    def read(
        self,
        start: datetime,
        end: datetime,
        device_ids: list[str] | None = None,
    ) -> pd.DataFrame:
        table = self._read_tables(start, end, device_ids)
        if table is None:
            return readings.empty_frame()
        return table_to_frame(table)

    def devices(self, start: datetime, end: datetime) -> list[str]:
        """Devices with a file in range; only files of partly covered days are opened."""
        start_us, end_us = _epoch_us(start), _epoch_us(end)
        if end_us <= start_us:
            return []
        found: set[str] = set()
        try:
            for device, day, path in self._files(start, end, None):
                if device in found:
                    continue
                if not _covers(day, start_us, end_us):
                    times = pq.read_table(path, columns=[readings.TIME])
                    if not _within(times, day, start_us, end_us).num_rows:
                        continue
                found.add(device)
        except (OSError, pa.ArrowException) as exc:
            raise self._unavailable(exc, "reading") from exc
        return sorted(found)

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            writable = os.access(self.root, os.W_OK | os.X_OK)
            free = shutil.disk_usage(self.root).free
        except OSError as exc:
            latency = (time.perf_counter() - started) * 1000
            return Health(False, latency, f"{self.url} unusable: {exc}")
        latency = (time.perf_counter() - started) * 1000
        if not writable:
            return Health(False, latency, f"{self.url} is not writable")
        return Health(
            True, latency, f"Parquet files in {self.root}, {free} bytes free", {"free_bytes": free}
        )
