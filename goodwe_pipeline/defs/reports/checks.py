"""Checks of the day's readings (blocking sessions and reports) and of the daily report.

The readings checks target ``inverter_readings``, an external asset written by the
polling sensor, so they run inside the report jobs: a blocking check on an asset
stops every asset downstream of it in the same run. A failed
``readings_physically_possible`` therefore keeps ``battery_sessions`` and
``daily_energy_report`` from being computed from a bad frame. The checks are not
partitioned: each evaluation covers the days of its run (the run's partition
range, or yesterday when the check is run on its own) and names them in its
metadata.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd

from goodwe_pipeline import days
from goodwe_pipeline.defs.partitions import daily_partitions
from goodwe_pipeline.defs.reports.assets import READ_MARGIN, daily_energy_report
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.quality import (
    COVERAGE_ERROR_PCT,
    COVERAGE_WARN_PCT,
    day_quality,
    impossible_examples,
    impossible_masks,
)
from goodwe_pipeline.readings import DEVICE_ID, MEASUREMENT
from goodwe_pipeline.reports import QUANTITIES

READINGS = dg.AssetKey(MEASUREMENT)
BALANCE_LIMIT_PCT = 10.0
AGREEMENT_LIMIT_PCT = 10.0
MIN_COMPARED_KWH = 1.0
"""Below this, differences are counter resolution (0.1 kWh steps), not disagreement."""
MAX_TABLE_ROWS = 31


def checked_days(context: dg.AssetCheckExecutionContext) -> list[date]:
    """The run's partition days; yesterday (local) when run without partitions."""
    if context.has_partition_key_range or context.has_partition_key:
        key_range = context.partition_key_range
        first, last = days.parse_day(key_range.start), days.parse_day(key_range.end)
    else:
        first = last = days.local_date(datetime.now(UTC), daily_partitions.timezone) - timedelta(
            days=1
        )
    return list(days.iter_days(first, last))


def _span(checked: list[date]) -> str:
    return checked[0].isoformat() if len(checked) == 1 else f"{checked[0]}..{checked[-1]}"


def _table(frame: pd.DataFrame) -> dg.MetadataValue:
    shown = frame.head(MAX_TABLE_ROWS)
    text = shown.to_markdown(index=False, floatfmt=".1f")
    if len(frame) > MAX_TABLE_ROWS:
        text += f"\n\n_{len(frame) - MAX_TABLE_ROWS} more rows not shown._"
    return dg.MetadataValue.md(text)


IMPOSSIBLE = dg.AssetCheckSpec(
    "readings_physically_possible",
    asset=READINGS,
    blocking=True,
    description=(
        "No reading of the day is physically impossible: battery charge outside 0-100 %, a "
        "power beyond three times the inverter's rated power (GOODWE_RATED_POWER_W), a "
        "temperature outside -40...100 °C. Such values come from corrupted frames or "
        "mis-mapped legacy files; this check blocks the day's battery sessions and report "
        "so no figure is built on them."
    ),
)
COVERAGE = dg.AssetCheckSpec(
    "readings_cover_the_day",
    asset=READINGS,
    description=(
        "Readings cover the day at their usual cadence: warns below 95 % of the expected "
        "readings and fails below 50 % (inverter offline, Wi-Fi down, store outage). Days "
        "with little data give figures based on few readings."
    ),
)
DUPLICATES = dg.AssetCheckSpec(
    "readings_have_unique_timestamps",
    asset=READINGS,
    description=(
        "No instant is recorded twice for a device (two readings closer than half the "
        "cadence, e.g. live polling and a migrated legacy file overlapping, or a clock jump), "
        "which would count that energy twice."
    ),
)
COUNTERS = dg.AssetCheckSpec(
    "lifetime_counters_never_decrease",
    asset=READINGS,
    description=(
        "The inverter's lifetime energy counters never go backwards. A drop means a reset "
        "or a glitch; the reports handle both, this warning says it happened."
    ),
)


@dg.multi_asset_check(
    specs=[IMPOSSIBLE, COVERAGE, DUPLICATES, COUNTERS],
    name="readings_quality",
    description="Data quality of the readings of the run's days (read once for all four checks).",
)
def readings_quality(
    context: dg.AssetCheckExecutionContext,
    raw_store: RawStoreResource,
    reports: ReportsResource,
) -> Iterator[dg.AssetCheckResult]:
    checked = checked_days(context)
    tz = daily_partitions.timezone
    now = datetime.now(UTC)
    start, end = days.range_window(checked[0], checked[-1], tz)
    limits = reports.limits()
    readings = raw_store.get_store().read(start, min(end, now + READ_MARGIN))
    quality = day_quality(readings, checked, tz, limits, now=now)
    span = _span(checked)

    masks = impossible_masks(readings, limits)
    counts = {name: int(mask.sum()) for name, mask in masks.items() if mask.any()}
    examples = impossible_examples(readings, limits)
    impossible_meta = {
        "days": span,
        "impossible_values": int(sum(counts.values())),
        "by_field": dg.MetadataValue.json(counts),
        "max_power_w": float(limits.max_power_w),
    }
    if examples:
        impossible_meta["examples"] = _table(pd.DataFrame(examples))
    yield dg.AssetCheckResult(
        check_name=IMPOSSIBLE.name,
        passed=not counts,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=impossible_meta,
        description=(
            None
            if not counts
            else f"{sum(counts.values())} impossible values in {span}: sessions and report blocked"
        ),
    )

    coverage = quality[["day", DEVICE_ID, "coverage_pct", "samples", "cadence_s"]]
    low = coverage[coverage["coverage_pct"] < COVERAGE_WARN_PCT].copy()
    low["day"] = low["day"].map(date.isoformat)
    low[DEVICE_ID] = low[DEVICE_ID].fillna("(no device)")
    worst = float(coverage["coverage_pct"].min()) if len(coverage) else 0.0
    severity = (
        dg.AssetCheckSeverity.ERROR if worst < COVERAGE_ERROR_PCT else dg.AssetCheckSeverity.WARN
    )
    coverage_meta = {
        "days": span,
        "worst_coverage_pct": round(worst, 2),
        "days_below_95_pct": int(low["day"].nunique()),
        "days_below_50_pct": int(
            low.loc[low["coverage_pct"] < COVERAGE_ERROR_PCT, "day"].nunique()
        ),
    }
    if len(low):
        coverage_meta["low_coverage"] = _table(low)
    yield dg.AssetCheckResult(
        check_name=COVERAGE.name,
        passed=low.empty,
        severity=severity,
        metadata=coverage_meta,
    )

    duplicates = quality[quality["duplicates"] > 0]
    yield dg.AssetCheckResult(
        check_name=DUPLICATES.name,
        passed=duplicates.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "days": span,
            "duplicates": int(quality["duplicates"].sum()),
            **({"by_day": _table(_by_day(duplicates, "duplicates"))} if len(duplicates) else {}),
        },
    )

    decreasing = quality[quality["counter_decreases"] > 0]
    yield dg.AssetCheckResult(
        check_name=COUNTERS.name,
        passed=decreasing.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "days": span,
            "decreases": int(quality["counter_decreases"].sum()),
            **(
                {"by_day": _table(_by_day(decreasing, "counter_decreases"))}
                if len(decreasing)
                else {}
            ),
        },
    )


def _by_day(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    out = frame[["day", DEVICE_ID, column]].copy()
    out["day"] = out["day"].map(date.isoformat)
    return out


def _daily_rows(warehouse: WarehouseResource, checked: list[date]) -> pd.DataFrame:
    wh = warehouse.get_warehouse()
    try:
        return wh.read_frame(
            "SELECT * FROM daily_energy WHERE day >= :first AND day <= :last ORDER BY day, device_id",
            {"first": checked[0], "last": checked[-1]},
        )
    finally:
        wh.dispose()


@dg.asset_check(
    asset=daily_energy_report,
    description=(
        "Energy in equals energy out within 10 %: PV + import + battery discharge against "
        "load + export + battery charge. A larger gap means a counter or power reading is "
        "wrong or missing (for example a second PV string the inverter does not report), "
        "so the day's savings cannot be trusted."
    ),
)
def energy_balance_within_10_pct(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    checked = checked_days(context)
    rows = _daily_rows(warehouse, checked)
    if rows.empty:
        return dg.AssetCheckResult(
            passed=True, metadata={"days": _span(checked), "rows": 0}, description="no reports"
        )
    energy_in = rows["pv_kwh"] + rows["grid_import_kwh"] + rows["battery_discharge_kwh"]
    energy_out = rows["load_kwh"] + rows["grid_export_kwh"] + rows["battery_charge_kwh"]
    compared = np.maximum(energy_in, energy_out) >= MIN_COMPARED_KWH
    bad = rows[compared & (rows["balance_error_pct"].abs() > BALANCE_LIMIT_PCT)]
    metadata = {
        "days": _span(checked),
        "rows": len(rows),
        "worst_balance_error_pct": round(float(rows["balance_error_pct"].abs().max()), 2)
        if rows["balance_error_pct"].notna().any()
        else None,
        "unbalanced_rows": len(bad),
    }
    if len(bad):
        table = bad[["day", DEVICE_ID, "balance_error_pct", "energy_source"]].copy()
        table["day"] = table["day"].map(str)
        metadata["unbalanced"] = _table(table)
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata
    )


@dg.asset_check(
    asset=daily_energy_report,
    description=(
        "Where the inverter has energy counters, they agree within 10 % with the energy "
        "integrated from its power readings (days with at least 95 % coverage). A gap "
        "points at a miscalibrated counter, a power reading that misses part of the system, "
        "or a counter glitch the report had to skip."
    ),
)
def counters_agree_with_integration(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    checked = checked_days(context)
    wh = warehouse.get_warehouse()
    try:
        documents = wh.read_frame(
            "SELECT report_date, device_id, report_data FROM analytics_reports "
            "WHERE report_type = 'daily' AND report_date >= :first AND report_date <= :last",
            {"first": checked[0], "last": checked[-1]},
        )
    finally:
        wh.dispose()
    disagreements = []
    compared = 0
    for record in documents.itertuples(index=False):
        data = record.report_data
        if (data.get("quality", {}).get("coverage_pct") or 0.0) < 95.0:
            continue
        for q in QUANTITIES:
            source = data.get("sources", {}).get(q.name, {})
            counter, integrated = source.get("counter_kwh"), source.get("integrated_kwh")
            if counter is None or integrated is None:
                continue
            larger = max(abs(counter), abs(integrated))
            if larger < MIN_COMPARED_KWH:
                continue
            compared += 1
            difference = 100.0 * (counter - integrated) / larger
            if abs(difference) > AGREEMENT_LIMIT_PCT:
                disagreements.append(
                    {
                        "day": str(record.report_date),
                        "device": record.device_id,
                        "energy": q.name,
                        "counter_kwh": counter,
                        "integrated_kwh": integrated,
                        "difference_pct": difference,
                    }
                )
    metadata = {"days": _span(checked), "compared": compared, "disagreements": len(disagreements)}
    if disagreements:
        metadata["details"] = _table(pd.DataFrame(disagreements))
    return dg.AssetCheckResult(
        passed=not disagreements, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )
