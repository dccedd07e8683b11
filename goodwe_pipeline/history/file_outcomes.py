"""What each legacy file gave a migration run, as its ``migration_files`` row says it."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from goodwe_pipeline.history.formats import Format
from goodwe_pipeline.history.index import FileEntry
from goodwe_pipeline.history.records import FileReadings, file_reason

_RANK = {"indexed": 0, "duplicate": 1, "migrated": 2}


class FileOutcomes:
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


def note_parsed(entry: FileEntry, readings: FileReadings) -> None:
    """Take a parsed file's span, counts, device and reason into its entry."""
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


def note_dropped(entry: FileEntry, readings: FileReadings) -> None:
    """Count the readings the day's placement rejected in the file's row."""
    if entry.format is not Format.OPTIMISER_DB:
        note_parsed(entry, readings)
        return
    entry.valid_records = (entry.valid_records or 0) - readings.dropped
    entry.rejected_records = (entry.rejected_records or 0) + readings.dropped
    placement = file_reason(None, readings.rejections, True, "readings")
    entry.reason = "; ".join(r for r in (entry.reason, placement) if r)


def settle_outcome(entry: FileEntry, new: int, duplicates: int, now: datetime) -> None:
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
