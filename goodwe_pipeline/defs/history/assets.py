"""``legacy_readings`` and ``legacy_decisions``: the optimiser's history, migrated day by day."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pandas as pd

from goodwe_pipeline.common import days
from goodwe_pipeline.defs import day_events
from goodwe_pipeline.defs.history.resources import LegacyResource
from goodwe_pipeline.defs.partitions import daily_partitions
from goodwe_pipeline.defs.resources import (
    RawStoreResource,
    WarehouseResource,
    raw_store_kind,
    warehouse_kind,
)
from goodwe_pipeline.history.decisions_migration import DecisionResult, migrate_decisions
from goodwe_pipeline.history.index import FileEntry
from goodwe_pipeline.history.readings_migration import MigrationResult, migrate_readings

MAX_TABLE_ROWS = 50


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    key_range = context.partition_key_range
    return days.parse_day(key_range.start), days.parse_day(key_range.end)


def _formats_table(by_format: dict[str, dict[str, int]]) -> str:
    """Files per format: seen by the run, parsed in this run, and how each one ended."""
    columns = ["seen", "parsed", "migrated", "duplicate", "indexed", "rejected"]
    frame = pd.DataFrame.from_dict(by_format, orient="index").reindex(columns=columns).fillna(0)
    return frame.astype(int).rename_axis("format").to_markdown()


def _rejected_table(entries: list[FileEntry]) -> str:
    rows = [{"file": e.path, "format": str(e.format), "reason": e.reason or ""} for e in entries]
    table = pd.DataFrame(rows[:MAX_TABLE_ROWS], columns=["file", "format", "reason"])
    text = table.to_markdown(index=False)
    if len(rows) > MAX_TABLE_ROWS:
        text += f"\n\n… and {len(rows) - MAX_TABLE_ROWS} more (all are in `migration_files`)."
    return text


def _days_table(result: MigrationResult) -> str:
    rows = [
        {
            "day": d.day.isoformat(),
            "readings in sources": d.expected_total,
            "written": d.written,
            "duplicates dropped": d.duplicates,
            "files": sum(d.files.values()),
            "rejected files": sum(d.rejected_files.values()),
            "rejected records": d.rejected_records,
        }
        for d in result.days
    ]
    return pd.DataFrame(rows).tail(MAX_TABLE_ROWS).to_markdown(index=False)


def _add_rejections(metadata: dict[str, object], result: DecisionResult | MigrationResult) -> None:
    """The rejected files (and folders that could not be listed), when there are any."""
    if result.rejected_files():
        metadata["rejected_files"] = dg.MetadataValue.md(_rejected_table(result.rejected_files()))
    if result.unlisted:
        metadata["unlisted_folders"] = dg.MetadataValue.json(result.unlisted[:MAX_TABLE_ROWS])


def readings_metadata(result: MigrationResult) -> dict[str, object]:
    by_format = result.by_format()
    seconds = result.timings.get("total", 0.0)
    metadata: dict[str, object] = {
        "first_day": result.first_day.isoformat(),
        "last_day": result.last_day.isoformat(),
        "readings_migrated": int(result.readings_written),
        "readings_in_sources": int(result.readings_expected),
        "duplicates_dropped": int(result.duplicates),
        "rejected_records": int(result.rejected_records),
        "files_seen": len(result.files),
        "files_rejected": len(result.rejected_files()),
        "device_id": result.device_id,
        "device_id_from": result.device_source,
        "files_by_format": dg.MetadataValue.md(_formats_table(by_format)),
        "days": dg.MetadataValue.md(_days_table(result)),
        "dst_resolutions": dg.MetadataValue.json({k: int(v) for k, v in result.dst.items()}),
        "repeated_hour_rejected": int(result.dst.get("ambiguous_rejected", 0)),
        "seconds": dg.MetadataValue.json(
            {k: round(float(v), 3) for k, v in result.timings.items()}
        ),
        "readings_per_second": round(result.readings_written / seconds, 1) if seconds else 0.0,
    }
    _add_rejections(metadata, result)
    if result.refused_devices:
        metadata["refused_devices"] = dg.MetadataValue.json(result.refused_devices)
    return metadata


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="history",
    kinds={raw_store_kind()},
    description=(
        "The readings your old GoodWe Dynamic Price Optimiser saved (`GOODWE_LEGACY_DIR`), "
        "in every format its versions wrote: current and historical snapshots, daily arrays, "
        "coordinator state files, roadmap-style gzip files and its SQLite database. Local "
        "times become UTC (a reading of the repeated autumn hour is placed by its offset, its "
        "file's order or its lifetime counters, else rejected), each reading is kept once "
        "however many files repeat it, and it lands in the raw store beside live readings "
        "with `source=legacy`. Broken files and records, and anything that is not a regular "
        "file inside the folder, are skipped with a reason (table `migration_files`); the "
        "folder is only ever read. See docs/migration.md. Backfill any range "
        "in one run; re-running changes nothing."
    ),
)
def legacy_readings(
    context: dg.AssetExecutionContext,
    legacy: LegacyResource,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    first, last = partition_days(context)
    settings = legacy.get_settings()
    with warehouse.get_warehouse() as warehouse, raw_store.get_store() as store:
        result = migrate_readings(
            settings,
            store,
            warehouse,
            first,
            last,
            log=context.log.debug,
            open_worker_store=raw_store.get_store if legacy.second_process else None,
        )
    context.log.info(
        f"{first}..{last}: {result.readings_written} readings migrated from "
        f"{len(result.files)} files ({len(result.rejected_files())} rejected), "
        f"{result.duplicates} duplicates dropped"
    )
    per_day = {
        d.day: {
            "readings_in_sources": int(d.expected_total),
            "readings_written": int(d.written),
            "duplicates_dropped": int(d.duplicates),
            "files": int(sum(d.files.values())),
            "rejected_files": int(sum(d.rejected_files.values())),
            "rejected_records": int(d.rejected_records),
        }
        for d in result.days
    }
    yield from day_events.finish(context, readings_metadata(result), per_day)


def decisions_metadata(result: DecisionResult) -> dict[str, object]:
    metadata: dict[str, object] = {
        "first_day": result.first_day.isoformat(),
        "last_day": result.last_day.isoformat(),
        "decisions": int(result.rows["legacy_decisions"]),
        "planned_sessions": int(result.rows["legacy_planned_sessions"]),
        "selling_sessions": int(result.rows["legacy_selling_sessions"]),
        "rejected_records": int(result.rejected_records),
        "files_seen": len(result.files),
        "files_rejected": len(result.rejected_files()),
        "files_by_format": dg.MetadataValue.md(_formats_table(result.by_format())),
    }
    _add_rejections(metadata, result)
    return metadata


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="history",
    kinds={warehouse_kind()},
    description=(
        "What the old optimiser decided and planned: its charging and battery-selling "
        "decisions, daily charging plans with their sessions, recorded selling sessions and "
        "the decision and session tables of its SQLite database. Stored in `legacy_decisions`, "
        "`legacy_planned_sessions` and `legacy_selling_sessions` so plans can be compared with "
        "the sessions measured from readings. Re-running a day updates the same rows."
    ),
)
def legacy_decisions(
    context: dg.AssetExecutionContext, legacy: LegacyResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    first, last = partition_days(context)
    with warehouse.get_warehouse() as warehouse:
        result = migrate_decisions(legacy.get_settings(), warehouse, first, last)
    context.log.info(
        f"{first}..{last}: {sum(result.rows.values())} decision/plan/session rows from "
        f"{len(result.files)} files"
    )
    return dg.MaterializeResult(metadata=decisions_metadata(result))
