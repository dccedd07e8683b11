"""Checks of the readings (blocking sessions and reports) and of the daily report.

The same five readings checks guard both ways readings arrive:

- on ``inverter_readings`` (live readings, an external asset written by the polling
  sensor), run inside the nightly and hourly report jobs;
- on ``legacy_readings`` (``defs/history/checks.py``), run whenever the history is
  migrated, so a backfill of the migration with sessions and reports checks the days
  before computing anything from them.

A blocking check stops every asset downstream of its asset in the same run: a failed
``readings_physically_possible`` keeps ``battery_sessions`` and ``daily_energy_report``
from being computed from a bad frame. The checks are not partitioned: each evaluation
covers the days of its run (``defs.partitions.checked_days``) and names them in its
metadata.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from goodwe_pipeline.common import days, settings
from goodwe_pipeline.defs.partitions import checked_days, daily_partitions
from goodwe_pipeline.defs.reports.assets import daily_energy_report
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.defs.sessions.resources import battery_capacity_kwh
from goodwe_pipeline.readings import DEVICE_ID, FIELD_NAMES, MEASUREMENT
from goodwe_pipeline.reports.daily import READ_MARGIN
from goodwe_pipeline.reports.daily_document import DAILY_REPORT
from goodwe_pipeline.reports.quality import (
    AGREEMENT_LIMIT_PCT,
    BALANCE_LIMIT_PCT,
    COVERAGE_ERROR_PCT,
    COVERAGE_WARN_PCT,
    SEVERE_CHANGES_PER_DAY,
    SEVERE_SOC_EXCESS_PCT,
    counter_disagreements,
    day_quality,
    implausible_changes,
    impossible_examples,
    impossible_masks,
    unbalanced_days,
)
from goodwe_pipeline.warehouse.reads import read_daily, read_reports

READINGS = dg.AssetKey(MEASUREMENT)
MAX_TABLE_ROWS = 31
QUALITY_FIELDS = FIELD_NAMES
"""The fields the readings checks look at: every field has a physical range."""

IMPOSSIBLE = "readings_physically_possible"
COVERAGE = "readings_cover_the_day"
DUPLICATES = "readings_have_unique_timestamps"
COUNTERS = "lifetime_counters_never_decrease"
PLAUSIBLE = "readings_change_plausibly"


def _span(first: date, last: date) -> str:
    return first.isoformat() if first == last else f"{first}..{last}"


def _table(frame: pd.DataFrame) -> dg.MetadataValue:
    shown = frame.head(MAX_TABLE_ROWS)
    text = shown.to_markdown(index=False, floatfmt=".1f")
    if len(frame) > MAX_TABLE_ROWS:
        text += f"\n\n_{len(frame) - MAX_TABLE_ROWS} more rows not shown._"
    return dg.MetadataValue.md(text)


def readings_check_specs(asset: dg.AssetKey, readings: str) -> list[dg.AssetCheckSpec]:
    """The five readings checks on ``asset``; ``readings`` says which readings they cover."""
    return [
        dg.AssetCheckSpec(
            IMPOSSIBLE,
            asset=asset,
            blocking=True,
            description=(
                f"No reading ({readings}) is physically impossible: every field has a range "
                "(docs/reports.md), e.g. battery charge outside 0-100 %, a power beyond three "
                "times the inverter's rated power (GOODWE_RATED_POWER_W), a temperature "
                "outside -40...100 °C, a battery voltage outside 0-1000 V. Such values come "
                "from corrupted frames or mis-mapped legacy files; this check blocks the "
                "battery sessions and daily report of the same run so no figure is built on "
                "them."
            ),
        ),
        dg.AssetCheckSpec(
            COVERAGE,
            asset=asset,
            description=(
                f"Readings ({readings}) cover each day at their usual cadence: warns below "
                "95 % of the expected readings and fails below 50 % (inverter offline, Wi-Fi "
                "down, store outage, days missing from the legacy files). Days with little "
                "data give figures based on few readings."
            ),
        ),
        dg.AssetCheckSpec(
            DUPLICATES,
            asset=asset,
            description=(
                f"No instant is recorded twice for a device ({readings}): two readings closer "
                "than half the cadence, e.g. live polling and a migrated legacy file "
                "overlapping, or a clock jump, would count that energy twice."
            ),
        ),
        dg.AssetCheckSpec(
            COUNTERS,
            asset=asset,
            description=(
                f"The inverter's lifetime energy counters never go backwards ({readings}). A "
                "drop means a reset or a glitch; the reports handle both, this warning says it "
                "happened."
            ),
        ),
        dg.AssetCheckSpec(
            PLAUSIBLE,
            asset=asset,
            blocking=True,
            description=(
                f"Readings ({readings}) change only as the hardware can: a lifetime counter "
                "stepping backwards within a day, or a battery charge moving more than the "
                "battery's power allows in the time between two readings (a reading placed at "
                "the wrong instant, a corrupted frame), warns with the instants. It fails, "
                "blocking the sessions and report of the same run, only when severe: a charge "
                f"jump {SEVERE_SOC_EXCESS_PCT:g} points beyond what is possible, or "
                f"{SEVERE_CHANGES_PER_DAY} or more such changes in one device's day."
            ),
        ),
    ]


def readings_results(
    asset: dg.AssetKey,
    first: date,
    last: date,
    raw_store: RawStoreResource,
    reports: ReportsResource,
) -> Iterator[dg.AssetCheckResult]:
    """The five readings check results for the days ``first``..``last``, every source."""
    now = datetime.now(UTC)
    start, end = days.range_window(first, last, daily_partitions.timezone)
    require_capacity()
    with raw_store.get_store() as raw_store:
        readings = raw_store.read(start, min(end, now + READ_MARGIN), fields=QUALITY_FIELDS)
    yield from quality_results(asset, readings, first, last, reports, now=now)


def require_capacity() -> None:
    """Fail the step with the setting's one-line message before anything is read."""
    try:
        settings.require("GOODWE_BATTERY_CAPACITY_KWH")
    except settings.SettingError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def quality_results(
    asset: dg.AssetKey,
    readings: pd.DataFrame,
    first: date,
    last: date,
    reports: ReportsResource,
    *,
    now: datetime,
) -> Iterator[dg.AssetCheckResult]:
    """The five readings check results from ``readings`` (every source, every field, of
    ``first``..``last`` up to ``now`` plus ``READ_MARGIN``) read by the caller, for a step
    that evaluates other checks on the same frame."""
    require_capacity()
    checked = list(days.iter_days(first, last))
    tz = daily_partitions.timezone
    limits = reports.limits()
    capacity_kwh = battery_capacity_kwh()
    quality = day_quality(readings, checked, tz, limits, now=now)
    span = _span(first, last)

    masks = impossible_masks(readings, limits)
    counts = {field: int(mask.sum()) for field, mask in masks.items() if mask.any()}
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
        asset_key=asset,
        check_name=IMPOSSIBLE,
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
        asset_key=asset,
        check_name=COVERAGE,
        passed=low.empty,
        severity=severity,
        metadata=coverage_meta,
    )

    yield _days_with(asset, DUPLICATES, quality, "duplicates", "duplicates", span)
    yield _days_with(asset, COUNTERS, quality, "counter_decreases", "decreases", span)
    yield _plausible_changes(
        asset, implausible_changes(readings, checked, tz, limits, capacity_kwh), span
    )


def _plausible_changes(asset: dg.AssetKey, changes: pd.DataFrame, span: str) -> dg.AssetCheckResult:
    """Fails as ERROR (blocking) only when some change is severe, else as WARN."""
    severe = int(changes["severe"].sum())
    metadata: dict[str, object] = {
        "days": span,
        "implausible_changes": len(changes),
        "severe_changes": severe,
    }
    if len(changes):
        shown = changes.copy()
        for column in ("time", "previous_time"):
            shown[column] = shown[column].map(lambda t: pd.Timestamp(t).isoformat())
        metadata["instants"] = _table(shown)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=PLAUSIBLE,
        passed=changes.empty,
        severity=dg.AssetCheckSeverity.ERROR if severe else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=(
            None
            if changes.empty
            else f"{len(changes)} implausible change(s) in {span}, {severe} severe"
            + (": sessions and report blocked" if severe else "")
        ),
    )


def _days_with(
    asset: dg.AssetKey, check: str, quality: pd.DataFrame, column: str, total: str, span: str
) -> dg.AssetCheckResult:
    """A WARN check that passes when no day has any ``column``; the days that do, in a table."""
    found = quality[quality[column] > 0]
    metadata: dict[str, object] = {"days": span, total: int(quality[column].sum())}
    if len(found):
        metadata["by_day"] = _table(_by_day(found, column))
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=check,
        passed=found.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def _by_day(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    out = frame[["day", DEVICE_ID, column]].copy()
    out["day"] = out["day"].map(date.isoformat)
    return out


LIVE_READINGS = "of the days of the nightly or hourly report run, live and migrated alike"


@dg.multi_asset_check(
    specs=readings_check_specs(READINGS, LIVE_READINGS),
    name="readings_quality",
    description=(
        f"Data quality of the readings of the run's days ({LIVE_READINGS}), read once for all "
        "five checks."
    ),
)
def readings_quality(
    context: dg.AssetCheckExecutionContext,
    raw_store: RawStoreResource,
    reports: ReportsResource,
) -> Iterator[dg.AssetCheckResult]:
    first, last = checked_days(context)
    yield from readings_results(READINGS, first, last, raw_store, reports)


def _daily_rows(warehouse: WarehouseResource, first: date, last: date) -> pd.DataFrame:
    with warehouse.get_warehouse() as warehouse:
        return read_daily(warehouse, first, last)


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
    first, last = checked_days(context)
    rows = _daily_rows(warehouse, first, last)
    if rows.empty:
        return dg.AssetCheckResult(
            passed=True, metadata={"days": _span(first, last), "rows": 0}, description="no reports"
        )
    bad = unbalanced_days(rows, limit_pct=BALANCE_LIMIT_PCT)
    metadata = {
        "days": _span(first, last),
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
    first, last = checked_days(context)
    with warehouse.get_warehouse() as warehouse:
        documents = read_reports(warehouse, DAILY_REPORT, first, last)
    comparison = counter_disagreements(
        zip(
            documents["report_date"],
            documents["device_id"],
            documents["report_data"],
            strict=True,
        ),
        limit_pct=AGREEMENT_LIMIT_PCT,
    )
    metadata = {
        "days": _span(first, last),
        "compared": comparison.compared,
        "disagreements": len(comparison.disagreements),
    }
    description = f"counters and integration agree on {comparison.compared} day(s)"
    if comparison.disagreements:
        worst = max(comparison.disagreements, key=lambda d: abs(d["difference_pct"]))
        description = (
            f"Warning only: {len(comparison.disagreements)} of {comparison.compared} "
            f"comparisons differ by more than {AGREEMENT_LIMIT_PCT:.0f} %; largest "
            f"{worst['energy']} on {worst['day']} ({worst['device']}): counter "
            f"{worst['counter_kwh']:.2f} kWh, readings {worst['integrated_kwh']:.2f} kWh "
            f"({worst['difference_pct']:+.0f} %)."
        )
        metadata["largest_difference_pct"] = round(float(worst["difference_pct"]), 1)
        metadata["largest_on"] = f"{worst['day']} {worst['device']} {worst['energy']}"
        metadata["details"] = _table(pd.DataFrame(comparison.disagreements))
    return dg.AssetCheckResult(
        passed=not comparison.disagreements,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=description,
    )
