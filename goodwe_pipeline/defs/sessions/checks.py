"""Checks of ``battery_sessions``: physically possible sessions only."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from goodwe_pipeline.defs.partitions import checked_days
from goodwe_pipeline.defs.resources import WarehouseResource
from goodwe_pipeline.defs.sessions.assets import battery_sessions
from goodwe_pipeline.defs.sessions.resources import SessionsResource
from goodwe_pipeline.sessions.detection import (
    CAPACITY_FACTOR,
    overlapping_sessions,
    sessions_beyond_capacity,
    soc_against_kind,
)
from goodwe_pipeline.warehouse.reads import read_sessions_by_device

MAX_EXAMPLES = 20


def _sessions(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, *, days_before: int = 0
) -> pd.DataFrame:
    first, last = checked_days(context)
    with warehouse.get_warehouse() as warehouse:
        return read_sessions_by_device(warehouse, first - timedelta(days=days_before), last)


def _examples(frame: pd.DataFrame, columns: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame[columns].head(MAX_EXAMPLES).to_markdown(index=False))


@dg.asset_check(
    asset=battery_sessions,
    description=(
        "No two sessions of one inverter overlap in time. Protects charge totals and costs "
        "from counting the same energy twice, e.g. after a change of thresholds left stale "
        "sessions beside new ones."
    ),
)
def sessions_do_not_overlap(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    frame = _sessions(context, warehouse, days_before=1)
    overlapping = overlapping_sessions(frame)
    metadata: dict[str, object] = {"sessions": len(frame), "overlapping": len(overlapping)}
    if len(overlapping):
        metadata["examples"] = _examples(
            overlapping, ["device_id", "kind", "start_time", "end_time", "session_id"]
        )
    return dg.AssetCheckResult(passed=overlapping.empty, metadata=metadata)


@dg.asset_check(
    asset=battery_sessions,
    description=(
        "No session moves more energy than 1.2 times the battery's capacity "
        "(`GOODWE_BATTERY_CAPACITY_KWH`, default 10 kWh). Protects costs and savings from "
        "impossible energies: a glitching battery counter, a wrong power sign or unit."
    ),
)
def session_energy_within_capacity(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    sessions: SessionsResource,
) -> dg.AssetCheckResult:
    frame = _sessions(context, warehouse)
    too_big = sessions_beyond_capacity(frame, sessions.battery_capacity_kwh)
    metadata: dict[str, object] = {
        "sessions": len(frame),
        "limit_kwh": float(CAPACITY_FACTOR * sessions.battery_capacity_kwh),
        "largest_kwh": float(frame["energy_kwh"].max()) if len(frame) else 0.0,
        "beyond_limit": len(too_big),
    }
    if len(too_big):
        metadata["examples"] = _examples(
            too_big, ["device_id", "kind", "start_time", "energy_kwh", "session_id"]
        )
    return dg.AssetCheckResult(passed=too_big.empty, metadata=metadata)


@dg.asset_check(
    asset=battery_sessions,
    description=(
        "A charge ends with the battery at least as full as it began, a discharge at most "
        "as full (1 % tolerance; sessions without SOC readings are skipped). Protects "
        "against a battery-power sign flipped by a firmware or mapping change, which "
        "would swap charges and discharges and their costs."
    ),
)
def soc_moves_with_session_kind(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    frame = _sessions(context, warehouse)
    with_soc, bad = soc_against_kind(frame)
    metadata: dict[str, object] = {"sessions_with_soc": with_soc, "wrong_direction": len(bad)}
    if len(bad):
        metadata["examples"] = _examples(
            bad, ["device_id", "kind", "start_time", "soc_start", "soc_end", "session_id"]
        )
    return dg.AssetCheckResult(
        passed=bad.empty, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )
