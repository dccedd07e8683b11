"""Migrate a range of local days of legacy history into the raw store and the warehouse.

Readings: find the day's files through the index, parse each file once per
run (in the order of ``formats.READING_FORMATS``), keep one reading per
(device, time) across all files and formats (the first file's values, missing
fields filled from later copies), write each day to the raw store, record
every file's outcome in ``migration_files`` and a per-day summary in
``analytics_reports`` (``report_type='legacy_migration'``, ``device_id='*'``)
that the asset checks compare with the store.

Decisions: the same file discovery for decision formats and the optimiser's
database tables, upserted into the ``legacy_*`` tables.

Nothing in the legacy folder is written; re-running a range writes the same
readings and rows again (idempotent upserts), so it changes nothing.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goodwe_pipeline.common import days as local_days
from goodwe_pipeline.common.settings import DEFAULT_TIMEZONE
from goodwe_pipeline.history import decisions as decision_rows
from goodwe_pipeline.history import index as file_index
from goodwe_pipeline.history.files import read_regular
from goodwe_pipeline.history.formats import (
    DECISION_FORMATS,
    DEFAULT_MAX_FILE_BYTES,
    READING_FORMATS,
    SINGLE_READING_FORMATS,
    FileReadings,
    Format,
    SnapshotChain,
    Unusable,
    file_reason,
    read_readings,
    read_records,
    read_snapshot_file,
)
from goodwe_pipeline.history.index import FileEntry, FolderIndex
from goodwe_pipeline.history.mapping import NAN
from goodwe_pipeline.history.optimiser_db import (
    ENERGY_TABLE,
    energy_summary,
    open_database,
    rows_between,
)
from goodwe_pipeline.history.placement import Timeline
from goodwe_pipeline.history.timestamps import LocalClock, to_us
from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.readings import COLUMNS, DEVICE_ID, FIELD_NAMES, SOURCE, SOURCE_LEGACY, TIME
from goodwe_pipeline.warehouse import Warehouse

SUMMARY_REPORT = "legacy_migration"
SUMMARY_DEVICE = "*"
DEFAULT_DEVICE = "legacy"
DEVICE_SAMPLE_FILES = 8
DEFAULT_BATCH_ROWS = 20_000
STORE_RESOLUTION_US = 1_000
"""The raw stores keep milliseconds; readings are told apart at that resolution too."""
_PRIORITY = {fmt: rank for rank, fmt in enumerate(READING_FORMATS)}
_NESTED_FORMATS = (
    Format.CURRENT_DATA,
    Format.ENERGY_DATA_SNAPSHOT,
    Format.COORDINATOR_STATE,
    Format.HISTORICAL_DATA,
    Format.COORDINATOR_STATE_LOG,
)


@dataclass(frozen=True)
class LegacySettings:
    """Where the legacy files are and how to read them."""

    legacy_dir: Path
    timezone: str = DEFAULT_TIMEZONE
    device_id: str | None = None
    """For records without a serial; None: the one serial found in the folder, else ``legacy``."""
    nonexistent: str = "reject"
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    batch_rows: int = DEFAULT_BATCH_ROWS
    now: datetime | None = None

    def clock(self) -> LocalClock:
        return LocalClock(self.timezone, nonexistent=self.nonexistent, now=self.now)


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


class _FileOutcomes:
    """The files a migration run looked at, counted per format (both kinds of result)."""

    files: list[FileEntry]
    unlisted: list[str]
    """Folders that could not be listed, with the reason (their files are unknown)."""

    def by_format(self) -> dict[str, dict[str, int]]:
        """Per format: files seen, parsed in this run, and each outcome."""
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for entry in self.files:
            row = table[str(entry.format)]
            row["seen"] += 1
            row["parsed"] += int(entry.parsed)
            row[entry.outcome] += 1
        return {name: dict(counts) for name, counts in sorted(table.items())}

    def rejected_files(self) -> list[FileEntry]:
        return [e for e in self.files if e.outcome == "rejected"]


@dataclass
class MigrationResult(_FileOutcomes):
    """What a readings migration did, for asset metadata and checks."""

    first_day: date
    last_day: date
    device_id: str
    device_source: str
    days: list[DaySummary] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    unlisted: list[str] = field(default_factory=list)
    refused_devices: dict[str, str] = field(default_factory=dict)
    """Devices whose readings the raw store would not keep, with its reason."""
    dst: Counter[str] = field(default_factory=Counter)
    reused_snapshot_elements: int = 0

    @property
    def readings_written(self) -> int:
        return sum(d.written for d in self.days)

    @property
    def readings_expected(self) -> int:
        return sum(d.expected_total for d in self.days)

    @property
    def duplicates(self) -> int:
        return sum(d.duplicates for d in self.days)

    @property
    def rejected_records(self) -> int:
        return sum(d.rejected_records for d in self.days)


class _Timer:
    def __init__(self, timings: dict[str, float]):
        self.timings = timings

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] += time.perf_counter() - start


def default_device(
    index: FolderIndex, configured: str | None, settings: LegacySettings
) -> tuple[str, str]:
    """The device of records without a serial, and how it was chosen.

    Looks at a few evenly spread files of the formats that carry the serial: the
    same files in the same folder give the same answer on every run.
    """
    if configured:
        return configured, "GOODWE_LEGACY_DEVICE_ID"
    candidates = [e for e in index.of_format(*_NESTED_FORMATS) if not e.skipped]
    candidates.sort(key=lambda e: (e.format is not Format.CURRENT_DATA, e.path))
    preferred = [e for e in candidates if e.format is Format.CURRENT_DATA] or candidates
    step = max(1, len(preferred) // DEVICE_SAMPLE_FILES)
    sample = preferred[::step][:DEVICE_SAMPLE_FILES]
    clock = settings.clock()
    serials: Counter[str] = Counter()
    for entry in sample:
        try:
            data = read_regular(entry.absolute, settings.max_file_bytes)
        except Unusable:
            continue
        serials.update(
            read_readings(entry.format, data, clock, limit=settings.max_file_bytes).devices
        )
    if len(serials) == 1:
        serial = next(iter(serials))
        return serial, f"the inverter serial in {len(sample)} sampled files"
    if serials:
        found = ", ".join(sorted(serials))
        return DEFAULT_DEVICE, f"several serials ({found}): set GOODWE_LEGACY_DEVICE_ID"
    return DEFAULT_DEVICE, "no serial in the folder's files"


def _parse_file(
    entry: FileEntry, clock: LocalClock, chain: SnapshotChain, settings: LegacySettings
) -> FileReadings:
    if entry.size is not None and entry.size > settings.max_file_bytes:
        result = FileReadings(entry.format)
        limit = settings.max_file_bytes / 1e6
        result.error = f"file of {entry.size / 1e6:.1f} MB exceeds the {limit:.0f} MB limit"
        return result
    if entry.format is Format.HISTORICAL_DATA:
        return read_snapshot_file(entry.absolute, clock, chain, limit=settings.max_file_bytes)
    try:
        data = read_regular(entry.absolute, settings.max_file_bytes)
    except Unusable as exc:
        result = FileReadings(entry.format)
        result.error = str(exc)
        return result
    hint = entry.mtime_us if entry.format in SINGLE_READING_FORMATS else None
    return read_readings(entry.format, data, clock, hint_us=hint, limit=settings.max_file_bytes)


def _parse_database(entry: FileEntry, clock: LocalClock, first: date, last: date) -> FileReadings:
    """The database's ``energy_data`` rows around the range, as one 'file'."""
    result = FileReadings(entry.format)
    try:
        with open_database(entry.absolute) as connection:
            if not entry.unchanged:
                summary = energy_summary(connection, "2010-01-01", _local_text(clock, clock.max_us))
                entry.records = summary["rows"]
                entry.rejected_records = summary["implausible"]
                entry.valid_records = summary["rows"] - summary["implausible"]
                entry.first_us = _text_us(clock, summary["first"])
                entry.last_us = _text_us(clock, summary["last"])
            rows = rows_between(connection, ENERGY_TABLE, "timestamp", first, last)
    except Unusable as exc:
        result.error = str(exc)
        return result
    return read_records(entry.format, rows, clock)


def _note_database(entry: FileEntry, readings: FileReadings) -> None:
    """The database row describes the whole table, not the rows of this run's days."""
    entry.parsed = True
    if readings.error:
        entry.reason = readings.error
        return
    entry.device_id = None
    implausible = entry.rejected_records or 0
    entry.reason = (
        f"{implausible} row(s) with timestamps before 2010 or in the future"
        if implausible
        else None
    )


def _local_text(clock: LocalClock, utc_us: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=utc_us)
    return moment.astimezone(clock.zone).replace(tzinfo=None).isoformat()


def _text_us(clock: LocalClock, text: object) -> int | None:
    if text is None:
        return None
    utc_us, _ = clock.resolve_one(text)
    return utc_us


def _relevant_days(entry: FileEntry, clock: LocalClock, first: date, last: date) -> list[date]:
    """The run's days whose readings this file may hold."""
    if entry.first_us is not None and entry.last_us is not None:
        low = max(clock.day_of(entry.first_us), first)
        high = min(clock.day_of(entry.last_us), last)
        return list(local_days.iter_days(low, high)) if low <= high else []
    day = entry.name_day
    if day is None:
        return [first] if entry.parsed else []
    if entry.unchanged:
        return [day] if first <= day <= last else []
    return [d for d in (day - timedelta(days=1), day) if first <= d <= last]


def _frame(merged: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    """The canonical frame (``readings.empty_frame`` dtypes), sorted by device and time.

    Built column by column in one go: ``readings.normalize`` would give the same
    frame, but 10x slower on keys already known to be unique.
    """
    keys = sorted(merged)
    matrix = np.array([merged[k] for k in keys], dtype=np.float64).reshape(
        len(keys), len(FIELD_NAMES)
    )
    times = np.fromiter((k[1] for k in keys), dtype=np.int64, count=len(keys))
    columns: dict[str, Any] = {
        TIME: pd.Series(times.astype("datetime64[us]")).dt.tz_localize(UTC),
        DEVICE_ID: pd.Series([k[0] for k in keys], dtype=object),
        SOURCE: pd.Series([SOURCE_LEGACY] * len(keys), dtype=object),
    }
    for position, name in enumerate(FIELD_NAMES):
        columns[name] = matrix[:, position]
    return pd.DataFrame(columns, columns=list(COLUMNS))


def _fill(existing: list[float], values: list[float]) -> list[float] | None:
    """``existing`` with its unknown fields (the shared ``NAN``) taken from ``values``; None when
    nothing changes."""
    if existing == values or NAN not in existing:
        return None
    filled = [b if a is NAN else a for a, b in zip(existing, values, strict=True)]
    return None if filled == existing else filled


class _Writer:
    """Writes day frames to the store on one background thread, so parsing the next
    days overlaps the store's work. Days are gathered into writes of at least
    ``batch_rows`` rows (the store splits them into its own batches and keeps several
    in flight); at most one write is in flight."""

    def __init__(self, store: RawStore, batch_rows: int, timings: dict[str, float]):
        self.store = store
        self.batch_rows = batch_rows
        self.timings = timings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="legacy-writer")
        self._gathered: list[tuple[pd.DataFrame, DaySummary]] = []
        self._rows = 0
        self._pending: (
            tuple[Future[tuple[int, set[str]]], list[tuple[pd.DataFrame, DaySummary]]] | None
        ) = None
        self.refused: dict[str, tuple[str, int]] = {}

    def _write(self, frame: pd.DataFrame) -> tuple[int, set[str]]:
        """Write ``frame``; when the store refuses it (``ValueError``, e.g. a device id it
        cannot keep), each device's readings are written alone and only a refused device's
        readings are left out (``refused``: device -> the store's reason, readings)."""
        start = time.perf_counter()
        refused: set[str] = set()
        try:
            written = int(self.store.write(frame))
        except ValueError:
            written = 0
            for device, readings in frame.groupby(DEVICE_ID, sort=False):
                try:
                    written += int(self.store.write(readings.reset_index(drop=True)))
                except ValueError as exc:
                    refused.add(device)
                    reason, count = self.refused.get(device, (str(exc), 0))
                    self.refused[device] = (reason, count + len(readings))
        self.timings["write"] += time.perf_counter() - start
        return written, refused

    def submit(self, frame: pd.DataFrame, summary: DaySummary) -> None:
        self._gathered.append((frame, summary))
        self._rows += len(frame)
        if self._rows >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        self.wait()
        if not self._gathered:
            return
        days, self._gathered, self._rows = self._gathered, [], 0
        frame = days[0][0] if len(days) == 1 else pd.concat([f for f, _ in days], ignore_index=True)
        self._pending = (self._pool.submit(self._write, frame), days)

    def wait(self) -> None:
        """Wait for the write in flight; the rows it acknowledged are credited day by day,
        in order (a shortfall, rows the store would not keep, goes to the last days)."""
        if self._pending is None:
            return
        future, days = self._pending
        self._pending = None
        start = time.perf_counter()
        acknowledged, refused = future.result()
        self.timings["write_wait"] += time.perf_counter() - start
        for frame, summary in days:
            kept = len(frame)
            if refused:
                devices = frame[DEVICE_ID]
                for device in refused.intersection(devices):
                    count = int((devices == device).sum())
                    summary.expected[device] -= count
                    summary.rejected_records += count
                    kept -= count
            summary.written = min(kept, acknowledged)
            acknowledged -= summary.written

    def close(self) -> None:
        try:
            self.flush()
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def migrate_readings(
    settings: LegacySettings,
    store: RawStore,
    warehouse: Warehouse,
    first: date,
    last: date,
    *,
    log: Callable[[str], None] | None = None,
) -> MigrationResult:
    """Migrate the readings of local days ``first``..``last`` (inclusive)."""
    if last < first:
        raise ValueError(f"empty range {first}..{last}")
    started = time.perf_counter()
    clock = settings.clock()
    timings: dict[str, float] = defaultdict(float)
    timer = _Timer(timings)
    with timer("index"):
        folder = FolderIndex.scan(Path(settings.legacy_dir))
        reading_formats = tuple(f for f in READING_FORMATS if f is not Format.OPTIMISER_DB)
        selected = folder.select(reading_formats, first, last)
        databases = folder.of_format(Format.OPTIMISER_DB)
        folder.load(warehouse, selected + databases)
        skipped = [e for e in selected + databases if e.skipped]
        selected = [e for e in selected if not e.skipped]
        databases = [e for e in databases if not e.skipped]
        device, device_source = default_device(folder, settings.device_id, settings)
    result = MigrationResult(first, last, device, device_source, timings=timings)
    result.unlisted = list(folder.unreadable)
    chain = SnapshotChain()
    parsed: dict[str, FileReadings] = {}
    active: dict[str, FileReadings] = {}
    parsed_entries: list[FileEntry] = list(skipped)

    def parse(entry: FileEntry) -> FileReadings:
        if entry.path not in parsed:
            parsed_entries.append(entry)
            with timer("parse"):
                if entry.format is Format.OPTIMISER_DB:
                    readings = _parse_database(entry, clock, first, last)
                else:
                    readings = _parse_file(entry, clock, chain, settings)
            _note(entry, readings)
            parsed[entry.path] = readings
            if entry.format is not Format.OPTIMISER_DB:
                active[entry.path] = readings
        return parsed[entry.path]

    for entry in selected:
        if entry.name_day is None and not entry.unchanged:
            parse(entry)
    buckets: dict[date, list[FileEntry]] = defaultdict(list)
    for entry in selected:
        for day in _relevant_days(entry, clock, first, last):
            buckets[day].append(entry)
    contributed: Counter[str] = Counter()
    repeated: Counter[str] = Counter()
    seen: dict[str, FileEntry] = {e.path: e for e in skipped}
    writer = _Writer(store, settings.batch_rows, timings)
    try:
        for day in local_days.iter_days(first, last):
            start_us, end_us = (to_us(t) for t in local_days.day_window(day, settings.timezone))
            summary = DaySummary(day)
            candidates = sorted(
                buckets.get(day, []) + databases, key=lambda e: (_PRIORITY[e.format], e.path)
            )
            merged: dict[tuple[str, int], list[float]] = {}
            unplaced: list[_Unplaced] = []
            for entry in candidates:
                readings = parse(entry)
                touched = _merge_day(
                    entry,
                    readings,
                    merged,
                    start_us,
                    end_us,
                    device,
                    summary,
                    contributed,
                    repeated,
                    unplaced,
                )
                unusable = readings.error is not None or not readings.valid
                home = entry.name_day == day or (entry.name_day is None and day == first)
                if not (touched or (unusable and home)):
                    continue
                summary.files[str(entry.format)] += 1
                if unusable:
                    summary.rejected_files[str(entry.format)] += 1
                if entry.path not in seen:
                    seen[entry.path] = entry
                    summary.rejected_records += readings.rejected
            if unplaced:
                _place_by_counters(unplaced, merged, summary, result.dst, contributed, repeated)
            with timer("normalise"):
                for key_device, _ in merged:
                    summary.expected[key_device] = summary.expected.get(key_device, 0) + 1
                frame = _frame(merged) if merged else None
            if frame is not None:
                writer.submit(frame, summary)
            result.days.append(summary)
            for path in [p for p, r in active.items() if _finished(r, end_us)]:
                active.pop(path).release()
            if log:
                log(
                    f"{day}: {summary.expected_total} readings from {sum(summary.files.values())} files"
                )
    finally:
        writer.close()
    with timer("index"):
        now = datetime.now(UTC)
        for entry in parsed_entries:
            readings = parsed.get(entry.path)
            if readings is not None and readings.dropped:
                _note_dropped(entry, readings)
            _outcome(entry, contributed[entry.path], repeated[entry.path], now)
            if entry.device_id in writer.refused:
                entry.outcome = "rejected"
                entry.reason = (
                    f"the raw store refused its device: {writer.refused[entry.device_id][0]}"
                )
        result.refused_devices = {d: r for d, (r, _) in writer.refused.items()}
        result.files = sorted(seen.values(), key=lambda e: e.path)
        file_index.save(warehouse, parsed_entries, now)
        warehouse.upsert("analytics_reports", [_summary_row(d, now) for d in result.days])
    result.dst.update(clock.stats)
    result.reused_snapshot_elements = chain.reused
    timings["total"] = time.perf_counter() - started
    return result


def _finished(readings: FileReadings, end_us: int) -> bool:
    return readings.last_us is None or readings.last_us < end_us


def _note(entry: FileEntry, readings: FileReadings) -> None:
    if entry.format is Format.OPTIMISER_DB:
        _note_database(entry, readings)
        return
    entry.parsed = True
    entry.records = readings.records
    entry.valid_records = readings.valid
    entry.rejected_records = readings.rejected
    entry.first_us, entry.last_us = readings.first_us, readings.last_us
    entry.device_id = readings.devices.most_common(1)[0][0] if readings.devices else None
    entry.reason = readings.reason()


def _merge_day(
    entry: FileEntry,
    readings: FileReadings,
    merged: dict[tuple[str, int], list[float]],
    start_us: int,
    end_us: int,
    device: str,
    summary: DaySummary,
    contributed: Counter[str],
    repeated: Counter[str],
    unplaced: list[_Unplaced],
) -> bool:
    """Add a file's readings of the day; True when it had any.

    A snapshot's ``repeats`` are only counted: the chain guarantees the same
    bytes were read from the previous snapshot, which sorts (and merges) first.
    Readings whose repeated-hour occurrence the file does not prove go to ``unplaced``
    (placed by ``_place_by_counters`` once every file of the day is merged).
    """
    if readings.error or readings.first_us is None:
        return False
    if readings.last_us < start_us or readings.first_us >= end_us:
        return False
    repeats = readings.repeats
    duplicates = bisect_left(repeats, end_us) - bisect_left(repeats, start_us) if repeats else 0
    new = 0
    uncertain = readings.uncertain
    for position, (reading_device, utc_us, values) in enumerate(readings.readings):
        if utc_us < start_us or utc_us >= end_us:
            continue
        if uncertain and position in uncertain:
            first_us, second_us = uncertain[position]
            unplaced.append(
                _Unplaced(entry, readings, reading_device or device, first_us, second_us, values)
            )
            continue
        if _add(merged, (reading_device or device, utc_us), values):
            new += 1
        else:
            duplicates += 1
    contributed[entry.path] += new
    repeated[entry.path] += duplicates
    summary.duplicates += duplicates
    return bool(new or duplicates)


def _add(
    merged: dict[tuple[str, int], list[float]], at: tuple[str, int], values: list[float]
) -> bool:
    """Keep a reading at ``at`` (device, UTC us): True when new, False when a copy (its
    values then only fill the kept reading's missing fields)."""
    device, utc_us = at
    key = (device, utc_us - utc_us % STORE_RESOLUTION_US)
    existing = merged.get(key)
    if existing is None:
        merged[key] = values
        return True
    if existing is not values:
        filled = _fill(existing, values)
        if filled is not None:
            merged[key] = filled
    return False


@dataclass(frozen=True)
class _Unplaced:
    """A repeated-hour reading its file does not place, with its two candidate instants."""

    entry: FileEntry
    readings: FileReadings
    device: str
    first_us: int
    second_us: int
    values: list[float]


def _place_by_counters(
    unplaced: list[_Unplaced],
    merged: dict[tuple[str, int], list[float]],
    summary: DaySummary,
    dst: Counter[str],
    contributed: Counter[str],
    repeated: Counter[str],
) -> None:
    """Place each unplaced reading where its lifetime counters fit among the day's placed
    readings (``placement.Timeline``), or reject it with the reason."""
    timeline = Timeline(merged.items())
    for item in unplaced:
        utc_us, reason = timeline.place(item.device, item.first_us, item.second_us, item.values)
        if utc_us is None:
            item.readings.drop(reason)
            summary.rejected_records += 1
            dst["ambiguous_rejected"] += 1
            continue
        dst["ambiguous_counters"] += 1
        if _add(merged, (item.device, utc_us), item.values):
            contributed[item.entry.path] += 1
        else:
            repeated[item.entry.path] += 1
            summary.duplicates += 1


def _note_dropped(entry: FileEntry, readings: FileReadings) -> None:
    """Count the readings the day's placement rejected in the file's row."""
    if entry.format is not Format.OPTIMISER_DB:
        _note(entry, readings)
        return
    entry.valid_records = (entry.valid_records or 0) - readings.dropped
    entry.rejected_records = (entry.rejected_records or 0) + readings.dropped
    placement = file_reason(None, readings.rejections, True, "readings")
    entry.reason = "; ".join(r for r in (entry.reason, placement) if r)


_RANK = {"indexed": 0, "duplicate": 1, "migrated": 2}


def _outcome(entry: FileEntry, new: int, duplicates: int, now: datetime) -> None:
    """rejected (nothing usable) / migrated (gave readings) / duplicate (all already known) /
    indexed (none in the range). An unchanged file keeps a better outcome of an earlier run."""
    stored = entry.stored.get("outcome") if entry.stored and entry.unchanged else None
    if entry.format is Format.OPTIMISER_DB and entry.reason and entry.records is None:
        entry.outcome = "rejected"
    elif (entry.valid_records or 0) == 0:
        entry.outcome = "rejected"
        entry.reason = entry.reason or "no readings in the file"
    else:
        outcome = "migrated" if new else ("duplicate" if duplicates else "indexed")
        if stored in _RANK and _RANK[stored] > _RANK[outcome]:
            outcome = stored
        entry.outcome = outcome
    if entry.outcome in ("migrated", "duplicate") and entry.outcome != stored:
        entry.migrated_at = now


def _summary_row(summary: DaySummary, now: datetime) -> dict[str, Any]:
    return {
        "report_type": SUMMARY_REPORT,
        "report_date": summary.day,
        "device_id": SUMMARY_DEVICE,
        "report_data": summary.report(),
        "created_at": now,
    }


# -- decisions -----------------------------------------------------------------------------


@dataclass
class DecisionResult(_FileOutcomes):
    """What a decisions migration did, for asset metadata."""

    first_day: date
    last_day: date
    rows: Counter[str] = field(default_factory=Counter)
    files: list[FileEntry] = field(default_factory=list)
    rejected_records: int = 0
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    unlisted: list[str] = field(default_factory=list)


def migrate_decisions(
    settings: LegacySettings, warehouse: Warehouse, first: date, last: date
) -> DecisionResult:
    """Upsert the decisions, plans and selling sessions of local days ``first``..``last``."""
    started = time.perf_counter()
    clock = settings.clock()
    result = DecisionResult(first, last)
    folder = FolderIndex.scan(Path(settings.legacy_dir))
    result.unlisted = list(folder.unreadable)
    file_formats = tuple(f for f in DECISION_FORMATS if f is not Format.OPTIMISER_DB)
    entries = folder.select(file_formats, first, last)
    databases = folder.of_format(Format.OPTIMISER_DB)
    folder.load(warehouse, entries + databases)
    device, _ = default_device(folder, settings.device_id, settings)
    collected = decision_rows.DecisionRows()
    touched: list[FileEntry] = [e for e in entries + databases if e.skipped]
    for entry in [e for e in entries if not e.skipped]:
        scope = decision_rows.Scope(
            clock, first, last, device, entry.path, entry.mtime_us, entry.name_time
        )
        try:
            data = read_regular(entry.absolute, settings.max_file_bytes)
        except Unusable as exc:
            rows = decision_rows.DecisionRows(error=str(exc))
        else:
            rows = decision_rows.read_decision_file(entry.format, data, scope)
        _note_decisions(entry, rows, collected)
        if rows.rows or rows.error or entry.name_day is None or first <= entry.name_day <= last:
            touched.append(entry)
    for entry in [e for e in databases if not e.skipped]:
        scope = decision_rows.Scope(clock, first, last, device, entry.path)
        try:
            with open_database(entry.absolute) as connection:
                rows = decision_rows.read_database(connection, scope)
        except Unusable as exc:
            rows = decision_rows.DecisionRows(error=str(exc))
        entry.parsed = True
        if rows.error:
            entry.outcome, entry.reason = "rejected", rows.error
        elif rows.rows and entry.outcome != "migrated":
            entry.outcome = "migrated"
        _merge_collected(collected, rows)
        result.rejected_records += rows.rejected
        touched.append(entry)
    result.rows[decision_rows.DECISIONS] = warehouse.upsert(
        decision_rows.DECISIONS, decision_rows.merge_rows(collected.decisions, ("decision_id",))
    )
    result.rows[decision_rows.PLANNED] = warehouse.upsert(
        decision_rows.PLANNED,
        decision_rows.merge_rows(collected.planned, ("plan_date", "session_id")),
    )
    result.rows[decision_rows.SELLING] = warehouse.upsert(
        decision_rows.SELLING, decision_rows.merge_rows(collected.selling, ("session_id",))
    )
    now = datetime.now(UTC)
    for entry in touched:
        stored = entry.stored.get("outcome") if entry.stored and entry.unchanged else None
        if entry.outcome == "migrated" and stored != "migrated":
            entry.migrated_at = now
    file_index.save(warehouse, [e for e in touched if e.format is not Format.OPTIMISER_DB], now)
    result.files = sorted(touched, key=lambda e: e.path)
    result.rejected_records += sum(
        e.rejected_records or 0 for e in touched if e.format is not Format.OPTIMISER_DB
    )
    result.timings["total"] = time.perf_counter() - started
    return result


def _note_decisions(
    entry: FileEntry, rows: decision_rows.DecisionRows, collected: decision_rows.DecisionRows
) -> None:
    entry.parsed = True
    entry.records = rows.records
    entry.rejected_records = rows.rejected
    entry.valid_records = rows.records - rows.rejected
    entry.first_us, entry.last_us = rows.first_us, rows.last_us
    entry.reason = rows.reason()
    if rows.error or (rows.records and rows.rejected == rows.records):
        entry.outcome = "rejected"
        entry.reason = entry.reason or "every record in the file is invalid"
    elif rows.rows:
        entry.outcome = "migrated"
    elif entry.outcome not in ("migrated",):
        entry.outcome = "indexed"
    _merge_collected(collected, rows)


def _merge_collected(
    collected: decision_rows.DecisionRows, rows: decision_rows.DecisionRows
) -> None:
    collected.decisions.extend(rows.decisions)
    collected.planned.extend(rows.planned)
    collected.selling.extend(rows.selling)
