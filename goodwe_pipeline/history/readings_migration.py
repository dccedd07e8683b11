"""Migrate a range of local days of legacy readings into the raw store and the warehouse.

Find the day's files through the index, parse each file once per run (in the
order of ``formats.READING_FORMATS``), keep one reading per (device, time) across
all files and formats (``day_merge``), write each day to the raw store, record
every file's outcome in ``migration_files`` and a per-day summary in
``analytics_reports`` (``report_type='legacy_migration'``, ``device_id='*'``)
that the asset checks compare with the store.

Nothing in the legacy folder is written; re-running a range writes the same
readings and rows again (idempotent upserts), so it changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from goodwe_pipeline.common import days as local_days
from goodwe_pipeline.common.gc_pause import cyclic_gc_paused
from goodwe_pipeline.history import day_worker
from goodwe_pipeline.history import index as file_index
from goodwe_pipeline.history.day_merge import DayMerge, DaySummary, FileContributions
from goodwe_pipeline.history.file_outcomes import (
    FileOutcomes,
    note_dropped,
    note_parsed,
    settle_outcome,
)
from goodwe_pipeline.history.files import Unusable, read_regular
from goodwe_pipeline.history.formats import READING_FORMATS, SINGLE_READING_FORMATS, Format
from goodwe_pipeline.history.index import FileEntry, FolderIndex
from goodwe_pipeline.history.optimiser_db import (
    ENERGY_TABLE,
    energy_summary,
    open_database,
    rows_between,
)
from goodwe_pipeline.history.raw_writer import RawWriter, add_refused, readings_frame
from goodwe_pipeline.history.readers import read_readings, read_snapshot_file
from goodwe_pipeline.history.records import FileReadings, read_records
from goodwe_pipeline.history.settings import LegacySettings, default_device
from goodwe_pipeline.history.snapshots import SnapshotChain
from goodwe_pipeline.history.timestamps import LocalClock, from_us, to_us
from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.warehouse import Warehouse

SUMMARY_REPORT = "legacy_migration"
SUMMARY_DEVICE = "*"
_PRIORITY = {fmt: rank for rank, fmt in enumerate(READING_FORMATS)}


@dataclass
class MigrationResult(FileOutcomes):
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


def migrate_readings(
    settings: LegacySettings,
    store: RawStore,
    warehouse: Warehouse,
    first: date,
    last: date,
    *,
    log: Callable[[str], None] | None = None,
    open_worker_store: Callable[[], RawStore] | None = None,
) -> MigrationResult:
    """Migrate the readings of local days ``first``..``last`` (inclusive).

    ``open_worker_store``: opens another connection to ``store``; given it, a range with enough
    work is shared with a second process on a machine with two cores (``day_worker``). The
    cyclic garbage collector is paused meanwhile (``gc_pause``): about 0.3 s of a 30-day
    migration's 2.5 s was its passes over the parsed files kept for later days."""
    if last < first:
        raise ValueError(f"empty range {first}..{last}")
    with cyclic_gc_paused():
        return _migrate(settings, store, warehouse, first, last, log, open_worker_store)


def _migrate(
    settings: LegacySettings,
    store: RawStore,
    warehouse: Warehouse,
    first: date,
    last: date,
    log: Callable[[str], None] | None,
    open_worker_store: Callable[[], RawStore] | None,
) -> MigrationResult:
    started = time.perf_counter()
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
        device, device_source = default_device(folder, settings)
    result = MigrationResult(first, last, device, device_source, timings=timings)
    result.unlisted = list(folder.unreadable)
    run = _ReadingsRun(settings, first, last, device, timer, skipped, databases, log)
    for entry in selected:
        if entry.name_day is None and not entry.unchanged:
            run.readings_of(entry)
    for entry in selected:
        for day in run.relevant_days(entry):
            run.files_of_day[day].append(entry)
    days = list(local_days.iter_days(first, last))
    later: list[date] = []
    worker = None
    if open_worker_store is not None and day_worker.available():
        split = day_worker.split_index([run.estimated_cost_us(day) for day in days])
        if split is not None:
            try:
                worker = day_worker.DaysWorker(
                    partial(run.migrate_as_worker, days[split:], open_worker_store, warehouse)
                )
                days, later = days[:split], days[split:]
            except OSError as exc:
                run.note(f"no second process ({exc}); migrating every day here")
    refused: dict[str, tuple[str, int]] = {}
    try:
        run.migrate_days(days, store, result, refused)
        if worker is not None:
            with timer("index"):
                run.save_final(run.entries_only_of(days, run.parsed_entries), refused, warehouse)
            with timer("worker_wait"):
                outcome, failure = worker.result()
            if outcome is not None:
                run.absorb(outcome, result, refused)
            else:
                span = f"{later[0]}..{later[-1]}"
                run.note(f"the second process did not migrate {span} ({failure}); migrating here")
                run.migrate_days(later, store, result, refused)
    finally:
        if worker is not None:
            worker.close()
    with timer("index"):
        now = datetime.now(UTC)
        unsaved = [e for e in run.parsed_entries if not run.saved_as_final(e, refused)]
        run.settle_outcomes(unsaved, refused, now)
        result.refused_devices = {d: r for d, (r, _) in refused.items()}
        result.files = sorted(run.seen.values(), key=lambda e: e.path)
        file_index.save(warehouse, unsaved, now)
        warehouse.upsert("analytics_reports", [_summary_row(d, now) for d in result.days])
    result.dst.update(run.clock.stats)
    result.reused_snapshot_elements = run.chain.reused
    timings["total"] = time.perf_counter() - started
    return result


@dataclass
class _WorkerDays:
    """What a worker process's days gave the run, for ``_ReadingsRun.absorb``."""

    days: list[DaySummary]
    dst: Counter[str]
    contributions: FileContributions
    parsed: list[FileEntry]
    """Entries of the files the worker parsed, their dropped readings already noted."""
    first_seen: dict[str, tuple[date, int]]
    """Files the worker's days used first: the day, and the rejected records counted there."""
    drops: dict[str, Counter[str]]
    """Readings of a file the worker's days rejected after parsing, by reason."""
    clock_stats: Counter[str]
    reused: int
    parse_counts: dict[str, tuple[Counter[str], int]]
    """Per file the worker parsed: its share of ``clock_stats`` and ``reused``."""
    refused: dict[str, tuple[str, int]]
    saved: dict[str, frozenset[str]]
    """Files whose ``migration_files`` rows the worker saved (only its days used them), with
    the devices the store had refused by then."""
    timings: dict[str, float]
    log: list[str]


class _ReadingsRun:
    """The state of one readings migration: every file is parsed once, kept while a day still
    to come may need its readings, and its contributions are counted over the whole run."""

    def __init__(
        self,
        settings: LegacySettings,
        first: date,
        last: date,
        device: str,
        timer: _Timer,
        skipped: list[FileEntry],
        databases: list[FileEntry],
        log: Callable[[str], None] | None,
    ):
        self.settings = settings
        self.databases = databases
        self.note = log or (lambda line: None)
        self.files_of_day: dict[date, list[FileEntry]] = defaultdict(list)
        self.clock = settings.clock()
        self.first = first
        self.last = last
        self.device = device
        self.timer = timer
        self.chain = SnapshotChain()
        self.parsed: dict[str, FileReadings] = {}
        self.unreleased: dict[str, FileReadings] = {}
        """Parsed files (the database aside) whose readings a later day may still need."""
        self.parsed_entries: list[FileEntry] = list(skipped)
        self.seen: dict[str, FileEntry] = {e.path: e for e in skipped}
        """Files in the result: skipped ones and those a day of the range touched."""
        self.contributions = FileContributions()
        self.first_seen: dict[str, tuple[date, int]] = {}
        """Per file in ``seen`` from a day of this run: that day and the rejected records
        counted in its summary."""
        self.parse_counts: dict[str, tuple[Counter[str], int]] = {}
        """Per parsed file: what parsing it added to ``clock.stats`` and ``chain.reused``."""
        self.saved: dict[str, frozenset[str]] = {}
        """Files whose ``migration_files`` rows were saved before the run ended (``save_final``),
        with the devices the store had refused by then."""

    def estimated_cost_us(self, day: date) -> float:
        return sum(
            day_worker.file_cost_us(e.size, e.format) for e in self.files_of_day.get(day, ())
        )

    def migrate_days(
        self,
        days: list[date],
        store: RawStore,
        result: MigrationResult,
        refused: dict[str, tuple[str, int]],
    ) -> None:
        """Migrate ``days`` in order, writing them to ``store``; the devices the store refused
        are added to ``refused``."""
        writer = RawWriter(store, self.settings.batch_rows, self.timer.timings)
        try:
            for day in days:
                entries = self.files_of_day.get(day, []) + self.databases
                summary = self.migrate_day(day, entries, writer, result)
                files = sum(summary.files.values())
                self.note(f"{day}: {summary.expected_total} readings from {files} files")
        finally:
            writer.close()
            add_refused(refused, writer.refused)

    def migrate_as_worker(
        self, days: list[date], open_store: Callable[[], RawStore], warehouse: Warehouse
    ) -> _WorkerDays:
        """In a forked process: migrate ``days`` through a connection of its own, and save the
        ``migration_files`` rows of the files no other day of the run uses."""
        started = time.perf_counter()
        stats, reused = self.clock.stats.copy(), self.chain.reused
        parsed, seen = set(self.parsed), set(self.seen)
        timings = dict(self.timer.timings)
        lines: list[str] = []
        self.note = lines.append
        result = MigrationResult(days[0], days[-1], self.device, "worker")
        refused: dict[str, tuple[str, int]] = {}
        with open_store() as store:
            self.migrate_days(days, store, result, refused)
        entries = [e for e in self.parsed_entries if e.path in self.parsed and e.path not in parsed]
        for entry in entries:
            if self.parsed[entry.path].dropped:
                note_dropped(entry, self.parsed[entry.path])
        with self.timer("index"):
            warehouse.after_fork()
            self.save_final(self.entries_only_of(days, entries), refused, warehouse)
        spent = {k: v - timings.get(k, 0.0) for k, v in self.timer.timings.items()}
        spent["worker"] = time.perf_counter() - started
        return _WorkerDays(
            days=result.days,
            dst=result.dst,
            contributions=self.contributions,
            parsed=entries,
            first_seen={p: s for p, s in self.first_seen.items() if p not in seen},
            drops={p: r.drop_reasons for p, r in self.parsed.items() if r.drop_reasons},
            clock_stats=self.clock.stats - stats,
            reused=self.chain.reused - reused,
            parse_counts={
                e.path: self.parse_counts[e.path] for e in entries if e.path in self.parse_counts
            },
            refused=refused,
            saved=self.saved,
            timings=spent,
            log=lines,
        )

    def absorb(
        self, worker: _WorkerDays, result: MigrationResult, refused: dict[str, tuple[str, int]]
    ) -> None:
        """Take a worker's days into the run as if this process had migrated them after its
        own: a file both processes used counts once, from this process's days first."""
        summaries = {s.day: s for s in worker.days}
        for path, (day, rejected) in worker.first_seen.items():
            if path in self.seen:
                summaries[day].rejected_records -= rejected
        entries = {e.path: e for e in self.parsed_entries}
        clock_stats, reused = worker.clock_stats, worker.reused
        for entry in worker.parsed:
            if entry.path in self.parsed:
                counted, parsed_reused = worker.parse_counts.get(entry.path, (Counter(), 0))
                clock_stats -= counted
                reused -= parsed_reused
            else:
                self.parsed_entries.append(entry)
                entries[entry.path] = entry
        for path in worker.first_seen:
            self.seen.setdefault(path, entries[path])
        self.saved.update(worker.saved)
        for path, reasons in worker.drops.items():
            readings = self.parsed.get(path)
            if readings is not None:
                readings.absorb_drops(reasons)
        self.clock.stats.update(clock_stats)
        self.chain.reused += reused
        self.contributions.new.update(worker.contributions.new)
        self.contributions.repeated.update(worker.contributions.repeated)
        result.days.extend(worker.days)
        result.dst.update(worker.dst)
        add_refused(refused, worker.refused)
        for name, seconds in worker.timings.items():
            self.timer.timings[name] += seconds
        for line in worker.log:
            self.note(line)

    def readings_of(self, entry: FileEntry) -> FileReadings:
        """The file's readings, parsed on first use."""
        readings = self.parsed.get(entry.path)
        if readings is not None:
            return readings
        self.parsed_entries.append(entry)
        stats, reused = self.clock.stats.copy(), self.chain.reused
        with self.timer("parse"):
            if entry.format is Format.OPTIMISER_DB:
                readings = _parse_database(entry, self.clock, self.first, self.last)
            else:
                readings = _parse_file(entry, self.clock, self.chain, self.settings)
        counted = self.clock.stats - stats
        if counted or self.chain.reused != reused:
            self.parse_counts[entry.path] = (counted, self.chain.reused - reused)
        note_parsed(entry, readings)
        self.parsed[entry.path] = readings
        if entry.format is not Format.OPTIMISER_DB:
            self.unreleased[entry.path] = readings
        return readings

    def relevant_days(self, entry: FileEntry) -> list[date]:
        """The run's days whose readings this file may hold."""
        first, last = self.first, self.last
        if entry.first_us is not None and entry.last_us is not None:
            low = max(self.clock.day_of(entry.first_us), first)
            high = min(self.clock.day_of(entry.last_us), last)
            return list(local_days.iter_days(low, high)) if low <= high else []
        day = entry.name_day
        if day is None:
            return [first] if entry.parsed else []
        if entry.unchanged:
            return [day] if first <= day <= last else []
        return [d for d in (day - timedelta(days=1), day) if first <= d <= last]

    def migrate_day(
        self, day: date, entries: list[FileEntry], writer: RawWriter, result: MigrationResult
    ) -> DaySummary:
        """Merge the day's readings from ``entries`` (in priority order) and hand them to the
        writer; then release the files no later day needs."""
        window = local_days.day_window(day, self.settings.timezone)
        start_us, end_us = (to_us(t) for t in window)
        merge = DayMerge(day, start_us, end_us, self.device, self.contributions)
        summary = merge.summary
        for entry in sorted(entries, key=lambda e: (_PRIORITY[e.format], e.path)):
            readings = self.readings_of(entry)
            touched = merge.add_file(entry, readings)
            unusable = readings.error is not None or not readings.valid
            home = entry.name_day == day or (entry.name_day is None and day == self.first)
            if not (touched or (unusable and home)):
                continue
            summary.files[str(entry.format)] += 1
            if unusable:
                summary.rejected_files[str(entry.format)] += 1
            if entry.path not in self.seen:
                self.seen[entry.path] = entry
                self.first_seen[entry.path] = (day, readings.rejected)
                summary.rejected_records += readings.rejected
        merge.place_unplaced(result.dst)
        with self.timer("normalise"):
            merge.count_expected()
            frame = readings_frame(merge.merged) if merge.merged else None
        if frame is not None:
            writer.submit(frame, summary)
        result.days.append(summary)
        finished = [p for p, r in self.unreleased.items() if _finished(r, end_us)]
        for path in finished:
            self.unreleased.pop(path).release()
        return summary

    def entries_only_of(self, days: list[date], entries: list[FileEntry]) -> list[FileEntry]:
        """Those of ``entries`` that no day but ``days`` uses (the database aside): once those
        days are migrated their outcomes are final. A worker passes only the files it parsed:
        the run's copies of the files parsed before the fork are settled by the run."""
        chosen = set(days)
        elsewhere = {e.path for e in self.databases}
        for day, files in self.files_of_day.items():
            if day not in chosen:
                elsewhere.update(e.path for e in files)
        return [e for e in entries if e.path not in elsewhere]

    def save_final(
        self, entries: list[FileEntry], refused: dict[str, tuple[str, int]], warehouse: Warehouse
    ) -> None:
        """Settle and save ``entries`` now, while the other process still migrates: the run
        saves only the rest at its end."""
        now = datetime.now(UTC)
        self.settle_outcomes(entries, refused, now)
        file_index.save(warehouse, entries, now)
        known = frozenset(refused)
        self.saved.update((e.path, known) for e in entries)

    def saved_as_final(self, entry: FileEntry, refused: dict[str, tuple[str, int]]) -> bool:
        """Whether ``entry``'s saved row stands: saved early, and its device was not refused
        only afterwards (by the other process's writes)."""
        known = self.saved.get(entry.path)
        if known is None:
            return False
        return entry.device_id not in refused or entry.device_id in known

    def settle_outcomes(
        self, entries: list[FileEntry], refused: dict[str, tuple[str, int]], now: datetime
    ) -> None:
        """Each of the parsed ``entries``' outcome, from what it contributed over the run."""
        for entry in entries:
            readings = self.parsed.get(entry.path)
            if readings is not None and readings.dropped:
                note_dropped(entry, readings)
            settle_outcome(
                entry,
                self.contributions.new[entry.path],
                self.contributions.repeated[entry.path],
                now,
            )
            if entry.device_id in refused:
                entry.outcome = "rejected"
                entry.reason = f"the raw store refused its device: {refused[entry.device_id][0]}"


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
        with open_database(Path(entry.absolute)) as connection:
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


def _local_text(clock: LocalClock, utc_us: int) -> str:
    return from_us(utc_us).astimezone(clock.zone).replace(tzinfo=None).isoformat()


def _text_us(clock: LocalClock, text: object) -> int | None:
    if text is None:
        return None
    utc_us, _ = clock.resolve_one(text)
    return utc_us


def _finished(readings: FileReadings, end_us: int) -> bool:
    return readings.last_us is None or readings.last_us < end_us


def _summary_row(summary: DaySummary, now: datetime) -> dict[str, Any]:
    return {
        "report_type": SUMMARY_REPORT,
        "report_date": summary.day,
        "device_id": SUMMARY_DEVICE,
        "report_data": summary.report(),
        "created_at": now,
    }
