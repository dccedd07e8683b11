"""``battery_sessions``: each time the battery charged or discharged, what it took and what it cost."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import sqlalchemy as sa

from goodwe_pipeline import days
from goodwe_pipeline.defs.partitions import daily_partitions, partition_days
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource, warehouse_kind
from goodwe_pipeline.defs.sessions.resources import SessionsResource
from goodwe_pipeline.readings import MEASUREMENT, TIME
from goodwe_pipeline.sessions import (
    CARRY_OPEN,
    days_with_readings,
    detect_sessions,
    planned_vs_actual,
    sessions_of_run,
    stale_session_ids,
)
from goodwe_pipeline.warehouse import Warehouse, schema

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
MAX_TABLE_ROWS = 50


def _sessions_table(found: pd.DataFrame, tz: str) -> str:
    start = found["start_time"].dt.tz_convert(tz)
    end = found["end_time"].dt.tz_convert(tz)
    money = found["cost_pln"].where(found["kind"] == "charge", found["value_pln"])
    table = pd.DataFrame(
        {
            "device": found["device_id"],
            "kind": found["kind"],
            "start": start.dt.strftime("%m-%d %H:%M"),
            "end": end.dt.strftime("%m-%d %H:%M"),
            "kWh": found["energy_kwh"].round(2),
            "SOC %": [
                f"{a:.0f} → {b:.0f}" if np.isfinite(a) and np.isfinite(b) else "?"
                for a, b in zip(found["soc_start"], found["soc_end"], strict=True)
            ],
            "grid kWh": found["grid_energy_kwh"].round(2),
            "PV kWh": found["pv_energy_kwh"].round(2),
            "PLN/kWh": found["avg_price_pln_kwh"].round(3),
            "cost / value PLN": money.round(2),
            "status": found["status"],
        }
    )
    return table.tail(MAX_TABLE_ROWS).to_markdown(index=False, missingval="–")


def _days_table(found: pd.DataFrame) -> str:
    charge = found["kind"] == "charge"
    per_day = (
        found.assign(
            charged_kwh=found["energy_kwh"].where(charge, 0.0),
            discharged_kwh=found["energy_kwh"].where(~charge, 0.0),
        )
        .groupby("partition_date")
        .agg(
            sessions=("session_id", "count"),
            charged_kwh=("charged_kwh", "sum"),
            cost_pln=("cost_pln", "sum"),
            discharged_kwh=("discharged_kwh", "sum"),
            value_pln=("value_pln", "sum"),
        )
        .round(2)
    )
    return per_day.tail(MAX_TABLE_ROWS).to_markdown(missingval="–")


def _plans_table(comparison: pd.DataFrame, tz: str) -> str:
    shown = comparison.copy()
    for column in ("planned_start", "planned_end"):
        times = pd.to_datetime(shown[column], utc=True)
        shown[column] = times.dt.tz_convert(tz).dt.strftime("%m-%d %H:%M")
    return shown.round(2).to_markdown(index=False, missingval="–")


def store_sessions(
    store: Warehouse, found: pd.DataFrame, first: date, last: date, with_data: set[date]
) -> None:
    """Upsert the sessions, then delete stored ones of the same days that no longer exist.

    Upserting before deleting means a reader never misses a session that still exists.
    """
    store.upsert("battery_sessions", found)
    existing = store.read_frame(
        "SELECT session_id, partition_date FROM battery_sessions "
        "WHERE partition_date >= :first AND partition_date <= :last",
        {"first": first, "last": last},
    )
    stale = stale_session_ids(existing, set(found["session_id"]), with_data)
    if stale:
        table = schema.battery_sessions
        store.execute(sa.delete(table).where(table.c.session_id.in_(stale)))


def open_before(store: Warehouse, day_start: datetime, first: date) -> pd.DataFrame:
    """Sessions of days before ``first`` still stored ``open``, at most ``CARRY_OPEN`` old."""
    return store.read_frame(
        "SELECT session_id, start_time FROM battery_sessions "
        "WHERE status = 'open' AND partition_date < :first AND start_time >= :earliest",
        {"first": first, "earliest": day_start - CARRY_OPEN},
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
) -> dg.MaterializeResult:
    first, last = partition_days(context)
    tz = daily_partitions.timezone
    day_start, day_end = days.range_window(first, last, tz)
    now = clock()
    read_end = min(day_end + LOOKAHEAD, now)

    store = warehouse.get_warehouse()
    try:
        carried = open_before(store, day_start, first)
        read_start = min([day_start, *carried["start_time"]]) - LOOKBACK
        with raw_store.get_store() as readings_store:
            readings = readings_store.read(read_start, read_end, fields=SESSION_FIELDS)
        prices = store.read_frame(
            "SELECT time_start, time_end, buy_pln_kwh, sell_pln_kwh FROM electricity_prices "
            "WHERE time_end > :start AND time_start < :end",
            {"start": read_start, "end": read_end},
        )
        detected = detect_sessions(
            readings, prices, tz=tz, data_end=read_end, config=sessions.config()
        )
        found, continued = sessions_of_run(detected, first, last, set(carried["session_id"]))
        stored = pd.concat([found, continued], ignore_index=True).assign(updated_at=now)
        with_data = days_with_readings(readings[TIME], tz)
        skipped = [d.isoformat() for d in days.iter_days(first, last) if d not in with_data]
        store_sessions(store, stored, first, last, with_data)
        plans = store.read_frame(
            "SELECT * FROM legacy_planned_sessions WHERE plan_date >= :first AND plan_date <= :last",
            {"first": first, "last": last},
        )
    finally:
        store.dispose()
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
        "earlier_sessions_continued": len(continued),
        "earlier_sessions_completed": int((continued["status"] == "completed").sum()),
        "readings": len(readings),
        "days_without_readings": len(skipped),
    }
    if not found.empty:
        table = _sessions_table(found, tz) if first == last else _days_table(found)
        metadata["sessions_table"] = dg.MetadataValue.md(table)
    if not plans.empty:
        comparison = planned_vs_actual(plans, found)
        metadata["planned_vs_actual"] = dg.MetadataValue.md(_plans_table(comparison, tz))
    return dg.MaterializeResult(metadata=metadata)
