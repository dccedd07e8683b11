"""``daily_energy_report`` and ``energy_trends``: what each day produced, used and saved."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

from goodwe_pipeline.charts.day import day_figure, day_series
from goodwe_pipeline.charts.trends import trend_bars, trends_figure
from goodwe_pipeline.common import days
from goodwe_pipeline.common.pipeline_config import CONFIG_NAME, pipeline_config
from goodwe_pipeline.defs import day_events
from goodwe_pipeline.defs.partitions import daily_partitions, run_days
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource, warehouse_kind
from goodwe_pipeline.readings import DEVICE_ID, MEASUREMENT, TIME
from goodwe_pipeline.reports.daily import (
    DAILY_ENERGY_COLUMNS,
    READING_FIELDS,
    DailyEnergy,
    daily_energy,
    readings_window,
)
from goodwe_pipeline.reports.daily_document import DAILY_REPORT, report_documents, summary_markdown
from goodwe_pipeline.reports.trends import DAILY_COLUMNS as TREND_DAILY_COLUMNS
from goodwe_pipeline.reports.trends import WINDOWS, trend_reports, trends_markdown
from goodwe_pipeline.warehouse.reads import (
    read_charges,
    read_daily,
    read_prices,
    read_sessions,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_DEPS = (MEASUREMENT, "legacy_readings", "electricity_prices", "battery_sessions")
LONGEST_WINDOW = max(WINDOWS)


def _day_metadata(row: pd.Series) -> dict[str, Any]:
    """The figures of a single day and device, as plain metadata values."""
    out: dict[str, Any] = {}
    for name in DAILY_ENERGY_COLUMNS:
        if name in ("day", DEVICE_ID):
            continue
        value = row[name]
        if isinstance(value, str):
            out[name] = value
        elif pd.notna(value):
            out[name] = round(float(value), 3)
    return out


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reports",
    kinds={warehouse_kind()},
    deps=[dg.AssetKey(name) for name in REPORT_DEPS],
    description=(
        "Each day in one row per inverter: how much your panels produced, the house used, "
        "you bought and sold, and the battery took in and gave back; the lowest and highest "
        "battery charge, the peaks; what you paid for imports, earned for exports, what the "
        "same house would have paid with no panels and no battery, and so what the system "
        "saved. Energies come from the inverter's energy counters when it has them, else "
        "from its power readings (`energy_source`). Costs use the quarter-hour prices. "
        "Today's row is partial and refreshed every hour."
    ),
)
def daily_energy_report(
    context: dg.AssetExecutionContext,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
    reports: ReportsResource,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    run = run_days(context)
    tz = daily_partitions.timezone
    now = datetime.now(UTC)
    start, end = days.range_window(run[0], run[-1], tz)
    with raw_store.get_store() as raw_store:
        readings = raw_store.read(*readings_window(run[0], run[-1], tz, now), fields=READING_FIELDS)
    with warehouse.get_warehouse() as warehouse:
        prices = read_prices(warehouse, start, end)
        result = daily_energy(
            readings,
            prices,
            run,
            tz,
            limits=reports.limits(),
            now=now,
            gap_factor=reports.gap_factor,
        )
        config = pipeline_config(
            raw_store_kind=raw_store.kind,
            warehouse_dialect=warehouse.dialect,
            report=reports.settings(),
        )
        version = warehouse.record_config(CONFIG_NAME, config)
        frame = result.days
        rows = frame[list(DAILY_ENERGY_COLUMNS)].copy()
        rows["config_version"] = version
        rows["updated_at"] = now
        warehouse.upsert("daily_energy", rows)
        documents = [
            {
                "report_type": DAILY_REPORT,
                "report_date": day,
                "device_id": device,
                "report_data": {**document, "config_version": version},
                "created_at": now,
            }
            for day, device, document in zip(
                frame["day"], frame[DEVICE_ID], report_documents(result, tz), strict=True
            )
        ]
        warehouse.upsert("analytics_reports", documents)
        sessions = read_sessions(warehouse, run[0], run[-1])

    reported = set(frame["day"])
    without = [d.isoformat() for d in run if d not in reported]
    if without:
        context.log.warning(
            f"no readings for {len(without)} of {len(run)} days (e.g. {', '.join(without[:5])}); "
            "their earlier reports, if any, are kept"
        )
    run_metadata: dict[str, Any] = {
        "run_days": len(run),
        "rows_written": len(frame),
        "days_without_readings": len(without),
        "rows_without_complete_prices": int(
            ((frame["unpriced_quarters"] > 0) | frame["net_cost_pln"].isna()).sum()
        ),
        "devices": dg.MetadataValue.json(sorted(str(d) for d in frame[DEVICE_ID].unique())),
        "config_version": version,
    }
    if len(run) > 1:
        run_metadata["days_of_the_run"] = dg.MetadataValue.md(summary_markdown(frame))
    context.log.info(
        f"daily energy {run[0]}..{run[-1]}: {len(frame)} rows, "
        f"{len(readings)} readings, {len(prices)} price rows"
    )
    per_day = _days_figures(context, result, readings, sessions, tz)
    yield from day_events.finish(context, run_metadata, per_day)


def today(tz: str) -> date:
    return days.local_date(datetime.now(UTC), tz)


def _days_figures(
    context: dg.AssetExecutionContext,
    result: DailyEnergy,
    readings: pd.DataFrame,
    sessions: pd.DataFrame,
    tz: str,
) -> dict[date, dict[str, Any]]:
    """Each day's figures per device (device-prefixed when the day has several), and the
    day's chart for the days that get one."""
    frame = result.days
    charted = day_events.chart_days(frame["day"], before=today(tz))
    if charted:
        first, last = days.range_window(min(charted), max(charted), tz)
        times = readings[TIME]
        readings = readings.loc[(times >= first) & (times < last)].reindex(
            columns=[TIME, DEVICE_ID, "battery_soc_pct"]
        )
    out: dict[date, dict[str, Any]] = {}
    for day, rows in frame.groupby("day", sort=True):
        several = len(rows) > 1
        figures: dict[str, Any] = {}
        for _, row in rows.iterrows():
            device = str(row[DEVICE_ID])
            label = device if several else ""
            prefix = f"{label} " if label else ""
            figures.update({f"{prefix}{k}": v for k, v in _day_metadata(row).items()})
            if day in charted:
                figures[f"{prefix}chart"] = day_events.chart(
                    context,
                    lambda row=row, label=label: _day_chart(
                        result, readings, sessions, row, tz, label=label
                    ),
                    f"{day} {device}",
                )
        out[day] = figures
    return out


def _day_chart(
    result: DailyEnergy,
    readings: pd.DataFrame,
    sessions: pd.DataFrame,
    row: pd.Series,
    tz: str,
    label: str,
) -> "Figure":
    day, device = row["day"], row[DEVICE_ID]
    quarters = result.quarters
    quarters = quarters[(quarters["day"] == day) & (quarters[DEVICE_ID] == device)]
    start, end = days.day_window(day, tz)
    times = readings[TIME]
    mine = readings[(readings[DEVICE_ID] == device) & (times >= start) & (times < end)]
    soc = pd.Series(mine["battery_soc_pct"].to_numpy("float64"), index=pd.DatetimeIndex(mine[TIME]))
    of_day = sessions[(sessions["partition_date"] == day) & (sessions[DEVICE_ID] == device)]
    return day_figure(day_series(quarters, soc, of_day, row.to_dict(), day, tz, label=label))


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reports",
    kinds={warehouse_kind()},
    # Day to day, not the 90-day window each trend reads from the warehouse: with a window
    # dependency Dagster 1.13 runs the trends in a second run of a backfill, after another
    # pass of its backfill daemon (30 s); day to day they run in the same run, after the
    # reports of the whole range.
    deps=[daily_energy_report, "battery_sessions"],
    description=(
        "Where things are heading: for the 7, 30 and 90 days up to each day, your production, "
        "consumption, imports, exports and savings (totals, daily averages and whether they "
        "are rising, falling or flat, with how clear that trend is), and the average price "
        "the battery's charges cost against the average price of what you imported. Stored "
        "as `analytics_reports` rows `trend_7d`, `trend_30d` and `trend_90d`."
    ),
)
def energy_trends(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    run = run_days(context)
    first = run[0] - timedelta(days=LONGEST_WINDOW - 1)
    with warehouse.get_warehouse() as warehouse:
        daily = read_daily(warehouse, first, run[-1], TREND_DAILY_COLUMNS)
        charges = read_charges(warehouse, first, run[-1])
        rows = trend_reports(daily, charges, run)
        now = datetime.now(UTC)
        for row in rows:
            row["created_at"] = now
        warehouse.upsert("analytics_reports", rows)
    per_day: dict[date, dict[str, Any]] = {}
    for day in run:
        of_day = [r for r in rows if r["report_date"] == day]
        if not of_day:
            continue
        figures = _trend_figures(of_day)
        figures["trends"] = dg.MetadataValue.md(trends_markdown(of_day))
        per_day[day] = figures
    if run[-1] in per_day:
        per_day[run[-1]]["chart"] = day_events.chart(
            context, lambda: trends_figure(trend_bars(daily, run[-1])), f"trends to {run[-1]}"
        )
    run_metadata = {"run_days": len(run), "rows_written": len(rows)}
    yield from day_events.finish(context, run_metadata, per_day)


def _trend_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The daily means of each window ending on the day, as numbers (device-prefixed
    when there are several devices)."""
    several = len({r["device_id"] for r in rows}) > 1
    out: dict[str, Any] = {}
    for row in rows:
        data = row["report_data"]
        prefix = f"{row['device_id']} " if several else ""
        window = f"{data['window_days']}d"
        out[f"{prefix}{window}_days_with_reports"] = data["days_with_reports"]
        for name, figure in data["figures"].items():
            mean = figure.get("daily_mean")
            if mean is not None:
                out[f"{prefix}{window}_{name}_per_day"] = mean
    return out
