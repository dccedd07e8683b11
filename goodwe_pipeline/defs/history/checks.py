"""Checks of ``legacy_readings``: everything found arrived, few files were unusable, days add
up, and the readings of the migrated days are physically possible (blocking the sessions and
reports of the same backfill otherwise).

All eight are one step that reads the days from the raw store once: the read is most of what
the checks cost, and each further step adds Dagster's own overhead to every backfill."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import pandas as pd

from goodwe_pipeline.common import days
from goodwe_pipeline.defs.history.assets import legacy_readings
from goodwe_pipeline.defs.history.resources import LegacyResource
from goodwe_pipeline.defs.partitions import DayRange, checked_days, daily_partitions, recent_days
from goodwe_pipeline.defs.reports.checks import quality_results, readings_check_specs
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.history.index import FileEntry
from goodwe_pipeline.history.readings_migration import SUMMARY_DEVICE, SUMMARY_REPORT
from goodwe_pipeline.history.stats import (
    TOLERANCE,
    compare_daily_stats,
    daily_stats_files,
    migrated_only,
    rejected_file_share,
    source_mismatches,
)
from goodwe_pipeline.readings import TIME, empty_frame
from goodwe_pipeline.reports.daily import READ_MARGIN
from goodwe_pipeline.warehouse.reads import read_reports

MAX_TABLE_ROWS = 50


def last_migration(context: dg.AssetCheckExecutionContext) -> DayRange:
    """The days of the latest ``legacy_readings`` run, else the last week.

    Every materialization of a run carries the run's first and last day; for one stored by
    an earlier version without them, the run's partition-range tags say which days it
    covered."""
    event = context.instance.get_latest_materialization_event(legacy_readings.key)
    if event is None or event.asset_materialization is None:
        return recent_days()
    metadata = event.asset_materialization.metadata
    if "first_day" in metadata and "last_day" in metadata:
        return days.parse_day(metadata["first_day"].value), days.parse_day(
            metadata["last_day"].value
        )
    run = context.instance.get_run_by_id(event.run_id)
    tags = run.tags if run else {}
    first = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    last = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    if first and last:
        return days.parse_day(first), days.parse_day(last)
    return recent_days()


def _summaries(warehouse: WarehouseResource, first: date, last: date) -> dict[date, dict[str, Any]]:
    with warehouse.get_warehouse() as warehouse:
        frame = read_reports(warehouse, SUMMARY_REPORT, first, last)
    frame = frame[frame["device_id"] == SUMMARY_DEVICE]
    return dict(zip(frame["report_date"], frame["report_data"], strict=True))


def _window(readings: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The readings with ``start <= time < end`` (the frame itself when all are)."""
    inside = (readings[TIME] >= start) & (readings[TIME] < end)
    return readings if inside.all() else readings[inside]


MATCH_SOURCES = "legacy_readings_match_sources"
REJECTED_SHARE = "legacy_rejected_file_share"
DAILY_STATS = "legacy_energy_matches_daily_stats"

LEGACY_CHECK_SPECS = [
    dg.AssetCheckSpec(
        MATCH_SOURCES,
        asset=legacy_readings,
        description=(
            "For every migrated day, the raw store holds exactly as many legacy readings per "
            "inverter as the legacy files contain distinct valid readings. Protects the history "
            "from silent losses (a batch the store refused, a field-type conflict in InfluxDB, "
            "a write cut short) and from duplicates."
        ),
    ),
    dg.AssetCheckSpec(
        REJECTED_SHARE,
        asset=legacy_readings,
        description=(
            "The share of legacy files that could not be used (truncated, empty, not JSON, "
            "every record invalid) stays below `max_rejected_file_share` of the `legacy` "
            "resource (5 % by default); warns otherwise. Protects against migrating the wrong "
            "folder, a damaged disk or an unknown file version whose readings would be lost "
            "quietly; the rejected files and reasons are in `migration_files`."
        ),
    ),
    dg.AssetCheckSpec(
        DAILY_STATS,
        asset=legacy_readings,
        description=(
            "Where the old collector left a `daily_stats_YYYYMMDD.json`, the day's PV production "
            "and house consumption computed from the migrated readings agree with its totals "
            "within 5 %; warns otherwise. Protects against wrong units, signs or time shifts in "
            "the migration (e.g. a day placed one hour off). Those totals are approximate "
            "(the collector assumed a fixed poll interval), so a mismatch is a warning."
        ),
    ),
]


@dg.multi_asset_check(
    specs=[
        *LEGACY_CHECK_SPECS,
        *readings_check_specs(
            legacy_readings.key, readings="of the migrated days, migrated and live alike"
        ),
    ],
    name="legacy_migration_checks",
    description=(
        "What the migration of the run's days promised (every reading arrived, few files were "
        "unusable, the days add up) and the data quality of every reading of those days, "
        "migrated and live alike. One step: the summaries and the days' readings are read once "
        "for the eight checks."
    ),
)
def legacy_migration_checks(
    context: dg.AssetCheckExecutionContext,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
    legacy: LegacyResource,
    reports: ReportsResource,
) -> Iterator[dg.AssetCheckResult]:
    first, last = checked_days(context, last_migration)
    now = datetime.now(UTC)
    settings = legacy.get_settings()
    summaries = _summaries(warehouse, first, last)
    legacy_start, legacy_end = days.range_window(first, last, settings.timezone)
    start, end = days.range_window(first, last, daily_partitions.timezone)
    end = min(end, now + READ_MARGIN)
    with ThreadPoolExecutor(1) as pool, raw_store.get_store() as store:
        # Listing the folder (20,000 files in a long history) overlaps the read.
        stats_files = pool.submit(daily_stats_files, settings.legacy_dir, first, last)
        readings = store.read(min(start, legacy_start), max(end, legacy_end))
    migrated = migrated_only(_window(readings, legacy_start, legacy_end))
    yield _match_sources(summaries, migrated, first, last, settings.timezone)
    yield _rejected_share(summaries, legacy.max_rejected_file_share)
    yield _daily_stats(stats_files.result(), migrated, settings.timezone)
    yield from quality_results(
        legacy_readings.key, _window(readings, start, end), first, last, reports, now=now
    )


def _match_sources(
    summaries: dict[date, dict[str, Any]], stored: pd.DataFrame, first: date, last: date, tz: str
) -> dg.AssetCheckResult:
    rows = source_mismatches(summaries, stored, first, last, tz)
    metadata: dict[str, object] = {
        "days": (last - first).days + 1,
        "readings_in_sources": int(sum(sum(s["expected"].values()) for s in summaries.values())),
        "legacy_readings_in_store": len(stored),
        "days_not_matching": len({r["day"] for r in rows}),
    }
    if rows:
        table = pd.DataFrame(rows).head(MAX_TABLE_ROWS).to_markdown(index=False)
        metadata["mismatches"] = dg.MetadataValue.md(table)
    return dg.AssetCheckResult(check_name=MATCH_SOURCES, passed=not rows, metadata=metadata)


def _rejected_share(summaries: dict[date, dict[str, Any]], threshold: float) -> dg.AssetCheckResult:
    files = rejected_file_share(summaries.values())
    return dg.AssetCheckResult(
        check_name=REJECTED_SHARE,
        passed=files.share <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "files": files.files,
            "rejected_files": files.rejected,
            "rejected_share": round(files.share, 4),
            "threshold": float(threshold),
            "by_format": dg.MetadataValue.md(files.by_format.to_markdown(index=False)),
        },
    )


def _daily_stats(
    files: dict[date, FileEntry], stored: pd.DataFrame, tz: str
) -> dg.AssetCheckResult:
    if files:
        start, end = days.range_window(min(files), max(files), tz)
        stored = stored[(stored[TIME] >= start) & (stored[TIME] < end)]
    else:
        stored = empty_frame()
    comparison = compare_daily_stats(files, stored, tz)
    rows, failing = comparison.rows, comparison.failing
    metadata: dict[str, object] = {
        "days_with_daily_stats": len(files),
        "days_compared": len({r["day"] for r in rows}),
        "days_outside_tolerance": len({r["day"] for r in failing}),
        "tolerance_pct": TOLERANCE * 100,
    }
    if rows:
        metadata["comparison"] = dg.MetadataValue.md(
            pd.DataFrame(failing or rows).head(MAX_TABLE_ROWS).to_markdown(index=False)
        )
    if comparison.unreadable:
        metadata["unreadable_daily_stats"] = dg.MetadataValue.md(
            pd.DataFrame(comparison.unreadable).to_markdown(index=False)
        )
    return dg.AssetCheckResult(
        check_name=DAILY_STATS,
        passed=not failing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )
