"""Readings in Parquet files: the embedded raw store (no server needed).

Layout: one folder per UTC day, ``root/<YYYY-MM-DD>/``, holding for each
device a base file ``<device id>.parquet`` (the id percent-encoded, so any id
is a safe file name) and, while the day is being written a little at a time,
the day's delta files ``<sequence>-<random>.delta``.

- Base files hold the canonical columns and dtypes, sorted by time, with
  unknown fields stored as NaN values (not nulls), so reading a finished day
  is a plain Arrow read and a zero-copy conversion, with no re-normalising.
- A small write (fewer than ``delta_rows`` rows for the day, e.g. one sensor
  tick) is one new delta file: the rows of every device, as an Arrow IPC file.
  It costs one small file and two fsyncs, whatever the size of the day.
- A larger write, or the ``compact_after``-th delta of a day, compacts the
  day: each device's base, its deltas (oldest first) and the new rows are
  merged into a new base file, and then the deltas are deleted.

Merging works the way InfluxDB merges points: for a (device, time) written
again, the fields the newer reading knows overwrite, the ones it does not know
keep their old values. Reads apply the same merge to base and deltas, so a
reader sees the same readings before and after a compaction.

Every file is written to a temporary name in the day folder, fsynced and
renamed, and the folder is fsynced, so a reader sees a whole file or none. A
base records the names of the deltas it has absorbed, and reads skip those:
a crash in the middle of a compaction (new bases written, deltas not yet
deleted) leaves a correct store, and the next compaction removes the
leftovers, and so does a temporary file a killed writer left behind: every
temporary file is written under the folder's exclusive lock, so one found
while holding that lock is nobody's. Writers (the sensor, a backfill, another
process) take an exclusive ``flock`` on the day folder; readers take no lock (a delta deleted
under a reader makes it read the day again; after a few such misses it reads
under a shared lock). What is kept is decided by ``raw_store.prepare``, shared
with the InfluxDB store.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from goodwe_pipeline import readings
from goodwe_pipeline.raw_store.arrow import (
    SCHEMA,
    conform,
    frame_to_table,
    schema_for,
    table_to_frame,
)
from goodwe_pipeline.raw_store.base import Health, RawStore, StoreUnavailableError, field_selection
from goodwe_pipeline.raw_store.prepare import prepare

SUFFIX = ".parquet"
DELTA_SUFFIX = ".delta"
TEMPORARY_SUFFIX = ".tmp"
COMPACT_AFTER = 64
"""Deltas a day may collect before they are merged into its base files."""
DELTA_ROWS = 1_000
"""Writes with fewer rows than this for a day become a delta; larger ones compact the day."""
_FOLDED_KEY = b"goodwe.folded_deltas"
_MAX_FILE_NAME = 255
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000
_READ_ATTEMPTS = 5
_DELTA_NAME = re.compile(r"^\d{12}-[0-9a-f]{16}\.delta$")
_TEMPORARY_NAME = re.compile(r"^\.[0-9a-f]{32}\.tmp$")
_ENCODINGS = {
    "use_dictionary": list(readings.TAGS),
    "column_encoding": {readings.TIME: "DELTA_BINARY_PACKED"},
}
"""Base files: a dictionary only for the tags; times (regular, distinct) delta-encoded, and
fields plain, which decode faster than dictionaries of mostly distinct values."""


def file_name(device_id: str) -> str:
    """The name of a device's base file in a day folder (percent-encoded id)."""
    name = quote(device_id, safe="") + SUFFIX
    if len(name.encode()) > _MAX_FILE_NAME:
        raise ValueError(f"device_id {device_id[:40]!r}... is too long to be a file name")
    return name


def device_of(name: str) -> str:
    """The device id of a base file name (``file_name`` reversed)."""
    return unquote(name[: -len(SUFFIX)])


def _epoch_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("read bounds must be timezone-aware datetimes")
    return (moment - _EPOCH) // timedelta(microseconds=1)


@contextmanager
def locked(folder: Path, *, shared: bool = False) -> Iterator[int]:
    """Exclusive (or shared) lock on a folder, held by this process until released; yields
    its fd, for fsyncing the folder once files are placed in it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def write_file(folder: Path, name: str, write: Callable[[Path], None]) -> None:
    """Write ``folder/name`` atomically: a fsynced temporary file renamed into place.

    The caller fsyncs the folder once it has placed its files.
    """
    temporary = folder / f".{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
    try:
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, folder / name)
    finally:
        temporary.unlink(missing_ok=True)


def _write_ipc(table: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_delta(path: Path, schema: pa.Schema) -> pa.Table:
    return conform(pa.ipc.open_file(pa.py_buffer(path.read_bytes())).read_all(), schema)


def _read_base(
    path: Path, schema: pa.Schema, footer: _Footer | None = None
) -> tuple[pa.Table, frozenset[str]]:
    """The base file's rows (``schema``'s columns) and the deltas it has absorbed.

    ``footer``, when it was read from this very file, spares parsing it again.
    """
    with open(path, "rb") as handle:
        metadata = None
        if footer is not None and footer.identity == _identity(handle):
            metadata = footer.metadata
        parquet = pq.ParquetFile(handle, metadata=metadata)
        arrow_schema = parquet.schema_arrow
        present = set(arrow_schema.names)
        table = parquet.read(columns=[name for name in schema.names if name in present])
    folded = (arrow_schema.metadata or {}).get(_FOLDED_KEY)
    return conform(table, schema), frozenset(json.loads(folded) if folded else ())


def _identity(handle: BinaryIO) -> tuple[int, int, int]:
    stat = os.fstat(handle.fileno())
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class _Footer:
    """A base file's Parquet footer, and which file it was read from."""

    metadata: pq.FileMetaData
    identity: tuple[int, int, int]

    @classmethod
    def read(cls, path: Path) -> _Footer:
        with open(path, "rb") as handle:
            return cls(pq.read_metadata(handle), _identity(handle))


@dataclass
class _Day:
    """The files of one day folder: base files by device, deltas oldest first (other
    files, such as temporary ``.*.tmp`` ones, are not the store's)."""

    bases: dict[str, Path] = field(default_factory=dict)
    deltas: list[Path] = field(default_factory=list)
    temporaries: list[Path] = field(default_factory=list)
    """``write_file``'s temporary files: stale when seen under the folder's exclusive lock."""

    @classmethod
    def scan(cls, folder: Path) -> _Day:
        found = cls()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return found
        for entry in entries:
            if entry.name.startswith("."):
                if _TEMPORARY_NAME.match(entry.name):
                    found.temporaries.append(Path(entry.path))
                continue
            if entry.name.endswith(SUFFIX):
                found.bases[device_of(entry.name)] = Path(entry.path)
            elif _DELTA_NAME.match(entry.name):
                found.deltas.append(Path(entry.path))
        found.deltas.sort(key=lambda path: path.name)
        return found

    def next_delta_name(self) -> str:
        last = int(self.deltas[-1].name.partition("-")[0]) if self.deltas else 0
        return f"{last + 1:012d}-{uuid.uuid4().hex[:16]}{DELTA_SUFFIX}"


def _merge(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One device's non-empty parts, oldest first, as one frame: per time, each column's
    latest known value (InfluxDB's merge of points), sorted by time."""
    merged = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if merged[readings.TIME].is_monotonic_increasing and merged[readings.TIME].is_unique:
        return merged.reset_index(drop=True)
    merged = merged.sort_values(readings.TIME, kind="stable")
    if merged[readings.TIME].duplicated().any():
        merged = merged.groupby(readings.TIME, sort=False, as_index=False).last()
    return merged.reset_index(drop=True)


def _by_device(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row positions of each device, in frame order."""
    if frame.empty:
        return {}
    groups = frame.groupby(readings.DEVICE_ID, sort=False).indices
    return {str(device): positions for device, positions in groups.items()}


@dataclass(frozen=True)
class _Deltas:
    """The rows of a day's deltas, oldest first, and which delta each row came from."""

    names: list[str]
    frame: pd.DataFrame
    origin: np.ndarray
    rows: dict[str, np.ndarray]

    @classmethod
    def read(cls, paths: list[Path], schema: pa.Schema, wanted: set[str] | None = None) -> _Deltas:
        tables = [_read_delta(path, schema) for path in paths]
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        origin = np.repeat(np.arange(len(tables)), [t.num_rows for t in tables])
        if wanted is not None:
            keep = pc.is_in(table.column(readings.DEVICE_ID), pa.array(sorted(wanted), pa.string()))
            mask = keep.to_numpy(zero_copy_only=False)
            table, origin = table.filter(keep), origin[mask]
        frame = table_to_frame(table)
        return cls([path.name for path in paths], frame, origin, _by_device(frame))

    def of(self, device: str, absorbed: frozenset[str]) -> pd.DataFrame | None:
        """The device's rows from the deltas its base has not absorbed."""
        positions = self.rows.get(device)
        if positions is None:
            return None
        skip = [i for i, name in enumerate(self.names) if name in absorbed]
        if skip:
            positions = positions[~np.isin(self.origin[positions], skip)]
        return self.frame.iloc[positions]


def _merged_device(
    device: str,
    base: Path | None,
    deltas: _Deltas,
    schema: pa.Schema,
    fresh: pd.DataFrame | None = None,
) -> pd.DataFrame | None:
    """A device's rows of a day: its base, then its unabsorbed delta rows, then ``fresh``,
    merged (None when there are none)."""
    parts = []
    absorbed: frozenset[str] = frozenset()
    if base is not None:
        table, absorbed = _read_base(base, schema)
        parts.append(table_to_frame(table))
    parts.append(deltas.of(device, absorbed))
    parts.append(fresh)
    present = [part for part in parts if part is not None and len(part)]
    return _merge(present) if present else None


def _covers(day: date, start_us: int, end_us: int) -> bool:
    day_start = (day - _EPOCH.date()).days * _DAY_US
    return start_us <= day_start and day_start + _DAY_US <= end_us


def _within(table: pa.Table, day: date, start_us: int, end_us: int) -> pa.Table:
    """The rows of a day in ``[start_us, end_us)``; a day inside the range needs no filter."""
    if _covers(day, start_us, end_us):
        return table
    times = table.column(readings.TIME)
    inside = pc.and_(
        pc.greater_equal(times, pa.scalar(start_us, times.type)),
        pc.less(times, pa.scalar(end_us, times.type)),
    )
    return table.filter(inside)


@dataclass(frozen=True)
class _Piece:
    """One device's rows of one day: a base file to read (its footer read while the
    rows were counted), or rows already merged from base and deltas."""

    device: str
    day: date
    path: Path | None = None
    table: pa.Table | None = None
    footer: _Footer | None = None

    @property
    def rows(self) -> int:
        if self.table is not None:
            return self.table.num_rows
        return self.footer.metadata.num_rows if self.footer is not None else 0

    def read(self, schema: pa.Schema) -> pa.Table:
        if self.table is not None:
            return self.table
        assert self.path is not None
        return _read_base(self.path, schema, self.footer)[0]


class _Columns:
    """The columns of a canonical frame, filled piece by piece (growing if a file grew
    since it was counted)."""

    def __init__(self, capacity: int, names: tuple[str, ...]):
        self.size = 0
        self.names = names
        self.time = np.empty(capacity, "int64")
        self.device = np.empty(capacity, object)
        self.source = np.empty(capacity, object)
        self.fields = {name: np.empty(capacity, "float64") for name in names}

    def _reserve(self, rows: int) -> None:
        if self.size + rows <= len(self.time):
            return
        capacity = max(self.size + rows, 2 * len(self.time))
        for name in ("time", "device", "source"):
            setattr(self, name, _grown(getattr(self, name), capacity))
        self.fields = {name: _grown(values, capacity) for name, values in self.fields.items()}

    def append(self, device: str, table: pa.Table) -> None:
        rows = table.num_rows
        if not rows:
            return
        self._reserve(rows)
        span = slice(self.size, self.size + rows)
        self.time[span] = table.column(readings.TIME).cast(pa.int64()).to_numpy()
        self.device[span] = device
        sources = table.column(readings.SOURCE)
        distinct = pc.unique(sources)
        if len(distinct) == 1:
            self.source[span] = distinct[0].as_py()
        else:
            self.source[span] = sources.to_numpy(zero_copy_only=False)
        for name, values in self.fields.items():
            values[span] = table.column(name).to_numpy()
        self.size += rows

    def _unknown_rows(self) -> np.ndarray | None:
        """Where no field is known (None when there is no such row)."""
        unknown = None
        for values in self.fields.values():
            missing = np.isnan(values[: self.size])
            unknown = missing if unknown is None else unknown & missing
            if not unknown.any():
                return None
        return unknown

    def frame(self, *, without_unknown: bool = False) -> pd.DataFrame:
        """The frame (rows with no known field left out when asked: a projected read)."""
        unknown = self._unknown_rows() if without_unknown else None
        if unknown is not None:
            keep = np.flatnonzero(~unknown)
            self.size = len(keep)
            self.time, self.device, self.source = (
                self.time[keep],
                self.device[keep],
                self.source[keep],
            )
            self.fields = {name: values[keep] for name, values in self.fields.items()}
        end = self.size
        data: dict[str, object] = {
            readings.TIME: pd.DatetimeIndex(self.time[:end].view("datetime64[us]")).tz_localize(
                UTC
            ),
            readings.DEVICE_ID: pd.Series(self.device[:end], dtype=object, copy=False),
            readings.SOURCE: pd.Series(self.source[:end], dtype=object, copy=False),
        }
        data.update((name, values[:end]) for name, values in self.fields.items())
        return pd.DataFrame(data, columns=[readings.TIME, *readings.TAGS, *self.names], copy=False)


def _grown(values: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.empty(capacity, values.dtype)
    grown[: len(values)] = values
    return grown


class ParquetRawStore(RawStore):
    """Canonical readings in ``root/<YYYY-MM-DD>/`` (UTC days): a base file per device
    and the day's deltas (see the module docstring)."""

    kind = "parquet"

    def __init__(
        self,
        root: str | Path,
        *,
        compression: str = "zstd",
        compact_after: int = COMPACT_AFTER,
        delta_rows: int = DELTA_ROWS,
    ):
        if compact_after < 1:
            raise ValueError("compact_after must be at least 1")
        self.root = Path(root).absolute()
        self.compression = compression
        self.compact_after = compact_after
        self.delta_rows = delta_rows

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
        parts = [(days[0], frame)] if (days == days[0]).all() else frame.groupby(days, sort=True)
        try:
            for day, part in parts:
                folder = self.root / pd.Timestamp(day).date().isoformat()
                folder.mkdir(parents=True, exist_ok=True)
                if len(part) < self.delta_rows:
                    self._append_delta(folder, part)
                else:
                    with locked(folder) as folder_fd:
                        self._compact(folder, folder_fd, part)
        except (OSError, pa.ArrowException) as exc:
            raise self._unavailable(exc, "writing") from exc
        return len(frame)

    def _append_delta(self, folder: Path, part: pd.DataFrame) -> None:
        table = frame_to_table(part)
        with locked(folder) as folder_fd:
            existing = _Day.scan(folder)
            write_file(folder, existing.next_delta_name(), lambda path: _write_ipc(table, path))
            os.fsync(folder_fd)
            if len(existing.deltas) + 1 >= self.compact_after:
                self._compact(folder, folder_fd, None)

    def compact(self) -> int:
        """Merge every day's deltas into its base files now; return the days compacted."""
        compacted = 0
        try:
            for _, folder in self._day_folders(None, None):
                files = _Day.scan(folder)
                if not files.deltas and not files.temporaries:
                    continue
                with locked(folder) as folder_fd:
                    self._compact(folder, folder_fd, None)
                compacted += 1
        except (OSError, pa.ArrowException) as exc:
            raise self._unavailable(exc, "compacting") from exc
        return compacted

    def _compact(self, folder: Path, folder_fd: int, new: pd.DataFrame | None) -> None:
        """Merge the day's deltas and ``new`` into the base files (the folder lock is held).

        New bases are in place (and the folder fsynced) before any delta is deleted. Temporary
        files a killed writer left are removed (no other writer can hold one: see the module).
        """
        day = _Day.scan(folder)
        for stale in day.temporaries:
            stale.unlink(missing_ok=True)
        deltas = _Deltas.read(day.deltas, SCHEMA)
        fresh = {} if new is None else _by_device(new)
        folded = json.dumps(deltas.names).encode()
        for device in sorted(set(fresh) | set(deltas.rows)):
            rows = new.iloc[fresh[device]] if new is not None and device in fresh else None
            merged = _merged_device(device, day.bases.get(device), deltas, SCHEMA, rows)
            if merged is None:
                continue
            table = frame_to_table(merged).replace_schema_metadata({_FOLDED_KEY: folded})
            write_file(
                folder,
                file_name(device),
                lambda path, t=table: pq.write_table(
                    t, path, compression=self.compression, **_ENCODINGS
                ),
            )
        os.fsync(folder_fd)
        if day.deltas:
            for path in day.deltas:
                path.unlink(missing_ok=True)
            os.fsync(folder_fd)

    # -- reading --------------------------------------------------------------

    def _day_folders(self, start: datetime | None, end: datetime | None) -> list[tuple[date, Path]]:
        """Existing day folders that may hold readings in ``[start, end)`` (None: unbounded)."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        first = start.astimezone(UTC).date() if start else date.min
        last = (end.astimezone(UTC) - timedelta(microseconds=1)).date() if end else date.max
        found = []
        for entry in entries:
            try:
                day = date.fromisoformat(entry.name)
            except ValueError:
                continue
            if first <= day <= last and entry.is_dir():
                found.append((day, Path(entry.path)))
        return sorted(found)

    def _read_day(
        self, folder: Path, wanted: set[str] | None, schema: pa.Schema
    ) -> list[tuple[str, pa.Table]]:
        """(device, rows) of one day folder, base and deltas merged, for ``wanted`` devices.

        A compaction deleting a delta under this read makes it start over; after a few
        such misses it reads under a shared lock, which waits for the writers.
        """
        for _ in range(_READ_ATTEMPTS):
            try:
                return self._read_files(_Day.scan(folder), wanted, schema)
            except FileNotFoundError:
                continue
        with locked(folder, shared=True):
            return self._read_files(_Day.scan(folder), wanted, schema)

    @staticmethod
    def _read_files(
        files: _Day, wanted: set[str] | None, schema: pa.Schema
    ) -> list[tuple[str, pa.Table]]:
        bases = {d: p for d, p in files.bases.items() if wanted is None or d in wanted}
        if not files.deltas:
            return [(device, _read_base(bases[device], schema)[0]) for device in sorted(bases)]
        deltas = _Deltas.read(files.deltas, schema, wanted)
        out = []
        for device in sorted(set(bases) | set(deltas.rows)):
            merged = _merged_device(device, bases.get(device), deltas, schema)
            if merged is not None:
                out.append((device, frame_to_table(merged, schema)))
        return out

    def _pieces(
        self,
        start: datetime,
        end: datetime,
        device_ids: Sequence[str] | None,
        schema: pa.Schema,
    ) -> list[_Piece]:
        """What holds the wanted readings, in (device, day) order: the base files of days
        without deltas (read later, one at a time) and the merged rows of days with deltas."""
        wanted = None if device_ids is None else set(device_ids)
        pieces = []
        for day, folder in self._day_folders(start, end):
            files = _Day.scan(folder)
            if files.deltas:
                merged = self._read_day(folder, wanted, schema)
                pieces += [_Piece(device, day, table=table) for device, table in merged]
                continue
            for device, path in files.bases.items():
                if wanted is None or device in wanted:
                    pieces.append(_Piece(device, day, path=path, footer=_Footer.read(path)))
        pieces.sort(key=lambda piece: (piece.device, piece.day))
        return pieces

    def read(
        self,
        start: datetime,
        end: datetime,
        device_ids: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Readings in ``[start, end)`` (see ``RawStore.read``).

        The frame's columns are allocated once, at their final size, and each
        day's file is decoded and copied into them in turn, so a long read holds
        one copy of the readings, not an Arrow copy and a pandas copy.
        """
        names = field_selection(fields)
        schema = schema_for(names)
        start_us, end_us = _epoch_us(start), _epoch_us(end)
        if end_us <= start_us or (device_ids is not None and not device_ids):
            return readings.empty_frame()[list(schema.names)]
        projected = names != readings.FIELD_NAMES
        try:
            pieces = self._pieces(start, end, device_ids, schema)
            columns = _Columns(sum(piece.rows for piece in pieces), names)
            for piece in pieces:
                columns.append(
                    piece.device, _within(piece.read(schema), piece.day, start_us, end_us)
                )
        except (OSError, pa.ArrowException) as exc:
            raise self._unavailable(exc, "reading") from exc
        return columns.frame(without_unknown=projected)

    def devices(self, start: datetime, end: datetime) -> list[str]:
        """Devices with readings in range; only the files of partly covered days are read."""
        start_us, end_us = _epoch_us(start), _epoch_us(end)
        if end_us <= start_us:
            return []
        found: set[str] = set()
        keys_only = schema_for(())
        try:
            for day, folder in self._day_folders(start, end):
                if _covers(day, start_us, end_us):
                    files = _Day.scan(folder)
                    found.update(files.bases)
                    for path in files.deltas:
                        try:
                            table = _read_delta(path, keys_only)
                        except FileNotFoundError:
                            continue  # compacted meanwhile: its devices have bases now
                        found.update(pc.unique(table.column(readings.DEVICE_ID)).to_pylist())
                    if files.deltas:
                        found.update(_Day.scan(folder).bases)
                    continue
                for device, table in self._read_day(folder, None, keys_only):
                    if device not in found and _within(table, day, start_us, end_us).num_rows:
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
