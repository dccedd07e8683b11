"""``battery_sessions``: each time the battery charged or discharged, what it took and what it cost."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd

from goodwe_pipeline.charts.sessions import session_bars, sessions_figure
from goodwe_pipeline.common import days
from goodwe_pipeline.defs import day_events
from goodwe_pipeline.defs.partitions import daily_partitions, partition_days
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource, warehouse_kind
from goodwe_pipeline.defs.sessions.resources import SessionsResource
from goodwe_pipeline.readings import MEASUREMENT, TIME
from goodwe_pipeline.sessions.detection import (
    CARRY_OPEN,
    days_with_readings,
    detect_sessions,
    planned_vs_actual,
    sessions_of_run,
)
from goodwe_pipeline.sessions.tables import (
    MAX_TABLE_ROWS,
    plans_table,
    session_rows,
    session_rows_by_day,
)
from goodwe_pipeline.warehouse.reads import (
    read_open_sessions_before,
    read_planned_sessions,
    read_prices,
)
from goodwe_pipeline.warehouse.sessions import store_sessions

NO_SESSIONS = "_No battery sessions this day._"
LOOKBACK = timedelta(hours=6)
"""Read before the first day, to see whether a session at midnight began the day before."""
LOOKAHEAD = timedelta(days=1)
"""Read past the last day, so sessions running over midnight are closed with their real end."""
SESSION_FIELDS = (
    "battery_power_w",
    "grid_power_w",
    "pv_power_w",
    "battery_soc_pct",
    "battery_charge_total_kwh",
    "battery_discharge_total_kwh",
)


def clock() -> datetime:
    """The moment of the run: readings are read up to it, and a session running then is open."""
    return datetime.now(UTC)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="sessions",
    kinds={warehouse_kind()},
    deps=[
        dg.AssetKey(MEASUREMENT),
        dg.AssetKey("legacy_readings"),
        dg.AssetKey("electricity_prices"),
    ],
    description=(
        "Every time the battery charged or discharged: when, how much energy, how full it "
        "was before and after, how much of a charge came from the grid and how much from "
        "your panels, and what it cost (grid energy at the buy price, solar energy at the "
        "export price it could have earned). Discharges show their value: the imports they "
        "replaced and the exports they sold. A session belongs to the day it starts; one "
        "still running is `open` until a later run (of its day or of the next days) sees it end."
    ),
)
def battery_sessions(
    context: dg.AssetExecutionContext,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
    sessions: SessionsResource,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    first, last = partition_days(context)
    tz = daily_partitions.timezone
    day_start, day_end = days.range_window(first, last, tz)
    now = clock()
    read_end = min(day_end + LOOKAHEAD, now)

    with warehouse.get_warehouse() as warehouse:
        carried = read_open_sessions_before(warehouse, first, day_start - CARRY_OPEN)
        read_start = min([day_start, *carried["start_time"]]) - LOOKBACK
        with raw_store.get_store() as raw_store:
            readings = raw_store.read(read_start, read_end, fields=SESSION_FIELDS)
        prices = read_prices(warehouse, read_start, read_end)
        detected = detect_sessions(
            readings, prices, tz=tz, data_end=read_end, config=sessions.config()
        )
        found, continued = sessions_of_run(detected, first, last, set(carried["session_id"]))
        stored = pd.concat([found, continued], ignore_index=True).assign(updated_at=now)
        with_data = days_with_readings(readings[TIME], tz)
        skipped = [d.isoformat() for d in days.iter_days(first, last) if d not in with_data]
        store_sessions(warehouse, stored, first, last, with_data)
        plans = read_planned_sessions(warehouse, first, last)
    if skipped:
        context.log.warning(
            f"no readings for {len(skipped)} day(s) ({', '.join(skipped[:5])}...): "
            "their stored sessions were left as they were"
        )
    lost = set(carried["session_id"]) - set(continued["session_id"])
    if lost:
        context.log.warning(
            f"{len(lost)} open session(s) of earlier days were not found in the readings "
            "again and were left as they were; re-run their day to settle them"
        )

    run_metadata: dict[str, object] = {
        "run_days": (last - first).days + 1,
        "sessions_written": len(found),
        "earlier_sessions_continued": len(continued),
        "earlier_sessions_completed": int((continued["status"] == "completed").sum()),
        "readings": len(readings),
        "days_without_readings": len(skipped),
    }
    comparison = planned_vs_actual(plans, found)
    charted = day_events.chart_days(days.iter_days(first, last), before=days.local_date(now, tz))
    rows_by_day = session_rows_by_day(found, tz)
    no_rows = session_rows(found.iloc[0:0], tz)
    sessions_by_day = dict(tuple(found.groupby("partition_date", sort=False)))
    plan_ids_by_day = plans.groupby("plan_date", sort=False)["session_id"].agg(set).to_dict()
    per_day = {
        day: _day_metadata(
            context,
            sessions_by_day.get(day, found.iloc[0:0]),
            rows_by_day.get(day, no_rows),
            comparison[comparison["plan"].isin(plan_ids_by_day.get(day, set()))],
            day,
            tz,
            with_chart=day in charted,
        )
        for day in days.iter_days(first, last)
        if day in with_data
    }
    yield from day_events.finish(context, run_metadata, per_day)


def _sessions_list(rows: pd.DataFrame) -> dg.TableMetadataValue:
    """The day's sessions as a table Dagster shows inline (Markdown longer than about 1000
    characters hides behind [Show Markdown])."""
    rows = rows.head(MAX_TABLE_ROWS)
    columns = [
        dg.TableColumn(name, "float" if rows[name].dtype.kind == "f" else "string")
        for name in rows.columns
    ]
    records = [
        dg.TableRecord(
            {
                name: None if pd.isna(value) else getattr(value, "item", lambda v=value: v)()
                for name, value in zip(rows.columns, values, strict=True)
            }
        )
        for values in rows.itertuples(index=False)
    ]
    return dg.MetadataValue.table(records, schema=dg.TableSchema(columns=columns))


def _day_metadata(
    context: dg.AssetExecutionContext,
    found: pd.DataFrame,
    rows: pd.DataFrame,
    comparison: pd.DataFrame,
    day: date,
    tz: str,
    *,
    with_chart: bool,
) -> dict[str, object]:
    """One day's sessions: the figures, the list, the plans beside them, the chart."""
    charge = found["kind"] == "charge"
    metadata: dict[str, object] = {
        "sessions": len(found),
        "charge_sessions": int(charge.sum()),
        "discharge_sessions": int((~charge).sum()),
        "open_sessions": int((found["status"] == "open").sum()),
        "charged_kwh": round(float(found.loc[charge, "energy_kwh"].sum()), 3),
        "charged_from_grid_kwh": round(float(found.loc[charge, "grid_energy_kwh"].sum()), 3),
        "charge_cost_pln": round(float(found.loc[charge, "cost_pln"].sum()), 2),
        "discharged_kwh": round(float(found.loc[~charge, "energy_kwh"].sum()), 3),
        "discharge_value_pln": round(float(found.loc[~charge, "value_pln"].sum()), 2),
        "sessions_without_prices": int(
            (found["cost_pln"].isna() & found["value_pln"].isna()).sum()
        ),
        "sessions_list": _sessions_list(rows) if len(rows) else dg.MetadataValue.md(NO_SESSIONS),
    }
    if not comparison.empty:
        metadata["planned_vs_actual"] = dg.MetadataValue.md(plans_table(comparison, tz))
        metadata["plans"] = len(comparison)
        metadata["plans_as_planned"] = int((comparison["why_different"] == "as planned").sum())
    if with_chart:
        metadata["chart"] = day_events.chart(
            context,
            lambda: sessions_figure(session_bars(found, comparison, day, tz)),
            f"battery sessions {day}",
        )
    return metadata
