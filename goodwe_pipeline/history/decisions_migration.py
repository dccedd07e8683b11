"""Migrate the decisions, plans and selling sessions of a range of local days into the
warehouse's ``legacy_*`` tables: the readings' file discovery for the decision formats and
the optimiser's database tables, every file's outcome in ``migration_files``.

Nothing in the legacy folder is written; re-running a range upserts the same rows again.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from goodwe_pipeline.history import decisions as decision_rows
from goodwe_pipeline.history import index as file_index
from goodwe_pipeline.history.file_outcomes import FileOutcomes
from goodwe_pipeline.history.files import Unusable, read_regular
from goodwe_pipeline.history.formats import DECISION_FORMATS, Format
from goodwe_pipeline.history.index import FileEntry, FolderIndex
from goodwe_pipeline.history.optimiser_db import open_database
from goodwe_pipeline.history.settings import LegacySettings, default_device
from goodwe_pipeline.warehouse import Warehouse


@dataclass
class DecisionResult(FileOutcomes):
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
    device, _ = default_device(folder, settings)
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
            with open_database(Path(entry.absolute)) as connection:
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
