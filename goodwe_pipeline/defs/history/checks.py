"""Checks of ``legacy_readings``: everything found arrived, few files were unusable, days add up."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd

from goodwe_pipeline import days
from goodwe_pipeline.defs.history.assets import legacy_readings
from goodwe_pipeline.defs.history.resources import LegacyResource
from goodwe_pipeline.defs.partitions import daily_partitions
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.legacy.formats import Format
from goodwe_pipeline.legacy.index import FolderIndex
from goodwe_pipeline.legacy.migrate import SUMMARY_DEVICE, SUMMARY_REPORT
from goodwe_pipeline.legacy.stats import TOLERANCE, compare, read_daily_stats
from goodwe_pipeline.readings import DEVICE_ID, SOURCE, SOURCE_LEGACY, TIME
from goodwe_pipeline.reports import daily_energy

FALLBACK_DAYS = 7
MAX_TABLE_ROWS = 50


def checked_days(context: dg.AssetCheckExecutionContext) -> tuple[date, date]:
    """The run's partition range; run on its own, the range of the latest materialization."""
    if context.has_partition_key_range or context.has_partition_key:
        key_range = context.partition_key_range
        return days.parse_day(key_range.start), days.parse_day(key_range.end)
    event = context.instance.get_latest_materialization_event(legacy_readings.key)
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if "first_day" in metadata and "last_day" in metadata:
        return days.parse_day(metadata["first_day"].value), days.parse_day(
            metadata["last_day"].value
        )
    today = days.local_date(datetime.now(UTC), daily_partitions.timezone)
    return today - timedelta(days=FALLBACK_DAYS - 1), today


def _summaries(warehouse: WarehouseResource, first: date, last: date) -> dict[date, dict]:
    store = warehouse.get_warehouse()
    try:
        frame = store.read_frame(
            "SELECT report_date, report_data FROM analytics_reports "
            "WHERE report_type = :kind AND device_id = :device "
            "AND report_date >= :first AND report_date <= :last",
            {"kind": SUMMARY_REPORT, "device": SUMMARY_DEVICE, "first": first, "last": last},
        )
    finally:
        store.dispose()
    return {pd.Timestamp(row.report_date).date(): row.report_data for row in frame.itertuples()}


def _legacy_readings(raw_store: RawStoreResource, first: date, last: date, tz: str) -> pd.DataFrame:
    start, end = days.range_window(first, last, tz)
    frame = raw_store.get_store().read(start, end)
    frame = frame[frame[SOURCE] == SOURCE_LEGACY]
    local = pd.to_datetime(frame[TIME], utc=True).dt.tz_convert(tz)
    return frame.assign(day=[t.date() for t in local])


@dg.asset_check(
    asset=legacy_readings,
    description=(
        "For every migrated day, the raw store holds exactly as many legacy readings per "
        "inverter as the legacy files contain distinct valid readings. Protects the history "
        "from silent losses (a batch the store refused, a field-type conflict in InfluxDB, "
        "a write cut short) and from duplicates."
    ),
)
def legacy_readings_match_sources(
    context: dg.AssetCheckExecutionContext,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
    legacy: LegacyResource,
) -> dg.AssetCheckResult:
    first, last = checked_days(context)
    summaries = _summaries(warehouse, first, last)
    stored = _legacy_readings(raw_store, first, last, legacy.timezone)
    counts = stored.groupby(["day", DEVICE_ID]).size() if not stored.empty else pd.Series(dtype=int)
    rows = []
    for day in days.iter_days(first, last):
        summary = summaries.get(day)
        expected = dict(summary["expected"]) if summary else {}
        devices = set(expected) | {d for (d_day, d) in counts.index if d_day == day}
        for device in sorted(devices) or [""]:
            want = int(expected.get(device, 0))
            have = int(counts.get((day, device), 0)) if device else 0
            if summary is None or want != have:
                rows.append(
                    {
                        "day": day.isoformat(),
                        "device": device,
                        "in sources": want if summary else "not migrated",
                        "in store": have,
                    }
                )
    total_expected = sum(sum(s["expected"].values()) for s in summaries.values())
    metadata: dict[str, object] = {
        "days": len(list(days.iter_days(first, last))),
        "readings_in_sources": int(total_expected),
        "legacy_readings_in_store": len(stored),
        "days_not_matching": len({r["day"] for r in rows}),
    }
    if rows:
        table = pd.DataFrame(rows).head(MAX_TABLE_ROWS).to_markdown(index=False)
        metadata["mismatches"] = dg.MetadataValue.md(table)
    return dg.AssetCheckResult(passed=not rows, metadata=metadata)


@dg.asset_check(
    asset=legacy_readings,
    description=(
        "The share of legacy files that could not be used (truncated, empty, not JSON, "
        "every record invalid) stays below `max_rejected_file_share` of the `legacy` "
        "resource (5 % by default); warns otherwise. Protects against migrating the wrong "
        "folder, a damaged disk or an unknown file version whose readings would be lost "
        "quietly; the rejected files and reasons are in `migration_files`."
    ),
)
def legacy_rejected_file_share(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, legacy: LegacyResource
) -> dg.AssetCheckResult:
    first, last = checked_days(context)
    summaries = _summaries(warehouse, first, last)
    seen = rejected = 0
    by_format: dict[str, list[int]] = {}
    for summary in summaries.values():
        for name, count in summary["files"].items():
            by_format.setdefault(name, [0, 0])[0] += int(count)
            seen += int(count)
        for name, count in summary["rejected_files"].items():
            by_format.setdefault(name, [0, 0])[1] += int(count)
            rejected += int(count)
    share = rejected / seen if seen else 0.0
    table = pd.DataFrame(
        [{"format": k, "files": v[0], "rejected": v[1]} for k, v in sorted(by_format.items())],
        columns=["format", "files", "rejected"],
    )
    return dg.AssetCheckResult(
        passed=share <= legacy.max_rejected_file_share,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "files": seen,
            "rejected_files": rejected,
            "rejected_share": round(share, 4),
            "threshold": float(legacy.max_rejected_file_share),
            "by_format": dg.MetadataValue.md(table.to_markdown(index=False)),
        },
    )


@dg.asset_check(
    asset=legacy_readings,
    description=(
        "Where the old collector left a `daily_stats_YYYYMMDD.json`, the day's PV production "
        "and house consumption computed from the migrated readings agree with its totals "
        "within 5 %; warns otherwise. Protects against wrong units, signs or time shifts in "
        "the migration (e.g. a day placed one hour off). Those totals are approximate "
        "(the collector assumed a fixed poll interval), so a mismatch is a warning."
    ),
)
def legacy_energy_matches_daily_stats(
    context: dg.AssetCheckExecutionContext,
    raw_store: RawStoreResource,
    legacy: LegacyResource,
) -> dg.AssetCheckResult:
    first, last = checked_days(context)
    settings = legacy.get_settings()
    folder = FolderIndex.scan(settings.legacy_dir)
    files = {
        e.name_day: e
        for e in folder.of_format(Format.DAILY_STATS)
        if e.name_day is not None and first <= e.name_day <= last
    }
    rows = []
    unreadable = []
    if files:
        stored = _legacy_readings(raw_store, min(files), max(files), settings.timezone)
        energy = daily_energy(
            stored.drop(columns=["day"]), pd.DataFrame(), sorted(files), settings.timezone
        ).days
        for day, entry in sorted(files.items()):
            stats = read_daily_stats(entry.absolute.read_bytes())
            if isinstance(stats, str):
                unreadable.append({"file": entry.path, "reason": stats})
                continue
            found = energy[energy["day"] == day]
            migrated = {
                "pv": float(found["pv_kwh"].sum()) if not found.empty else float("nan"),
                "load": float(found["load_kwh"].sum()) if not found.empty else float("nan"),
            }
            for row in compare(stats, migrated):
                rows.append({"day": day.isoformat(), **row})
    failing = [r for r in rows if not r["ok"]]
    metadata: dict[str, object] = {
        "days_with_daily_stats": len(files),
        "days_compared": len({r["day"] for r in rows}),
        "days_outside_tolerance": len({r["day"] for r in failing}),
        "tolerance_pct": TOLERANCE * 100,
    }
    if rows:
        shown = failing or rows
        metadata["comparison"] = dg.MetadataValue.md(
            pd.DataFrame(shown).head(MAX_TABLE_ROWS).to_markdown(index=False)
        )
    if unreadable:
        metadata["unreadable_daily_stats"] = dg.MetadataValue.md(
            pd.DataFrame(unreadable).to_markdown(index=False)
        )
    return dg.AssetCheckResult(
        passed=not failing, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )
