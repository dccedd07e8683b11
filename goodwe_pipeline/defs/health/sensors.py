"""The ``storage_health`` sensor: probe the stores every 5 minutes and keep the answers."""

import logging
from datetime import UTC, datetime

import dagster as dg

from goodwe_pipeline.common import settings
from goodwe_pipeline.defs.health.assets import storage_health as storage_health_asset
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.health import checkup

INTERVAL_S = 300
CHECK_NAME = "storage_is_healthy"


def check_storage(
    raw_store: RawStoreResource, warehouse: WarehouseResource, log: logging.Logger
) -> checkup.HealthReport:
    """Probe every component and append the answers to ``storage_health``. Never raises: a
    store that cannot even be opened (a malformed URL) is an unhealthy component."""
    try:
        poll_seconds = settings.for_loading("GOODWE_POLL_SECONDS")
    except ValueError as exc:
        poll_seconds = settings.DEFAULT_POLL_SECONDS
        log.warning(f"GOODWE_POLL_SECONDS: {exc}; judging reading age by {poll_seconds} s")
    store_settings = raw_store.settings()
    return checkup.check_and_record(
        raw_store.get_store,
        store_settings.kind,
        warehouse.get_warehouse,
        raw_store.data_dir,
        now=datetime.now(UTC),
        inverters_configured=bool(settings.env("GOODWE_INVERTERS")),
        poll_seconds=poll_seconds,
        secrets=[*store_settings.secrets, *warehouse.settings().secrets],
    )


def metadata(report: checkup.HealthReport) -> dict[str, object]:
    out: dict[str, object] = {}
    for r in report.results:
        out[f"{r.component}_ok"] = r.ok
        out[f"{r.component}"] = r.detail
        if r.latency_ms is not None:
            out[f"{r.component}_latency_ms"] = round(float(r.latency_ms), 1)
    table = "\n".join(
        ["| component | ok | latency ms | detail |", "|---|---|---|---|"]
        + [
            f"| {r.component} | {'yes' if r.ok else '**no**'} | "
            f"{'' if r.latency_ms is None else f'{r.latency_ms:.1f}'} | {r.detail} |"
            for r in report.results
        ]
    )
    out["components"] = dg.MetadataValue.md(table)
    out["recorded"] = report.not_recorded is None
    if report.not_recorded:
        out["not_recorded"] = report.not_recorded
    return out


@dg.sensor(
    name="storage_health",
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every 5 minutes: raw store, warehouse, spool backlog, free disk and the age of the "
        "newest reading, kept as rows of the `storage_health` table and shown on the "
        "`storage_health` asset (also when the warehouse is the part that is down)."
    ),
)
def storage_health(
    context: dg.SensorEvaluationContext,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
) -> dg.SensorResult:
    report = check_storage(raw_store, warehouse, context.log)
    if report.failing:
        context.log.warning(f"unhealthy: {', '.join(report.failing)}")
    if report.not_recorded:
        context.log.warning(f"storage_health rows not written: {report.not_recorded}")
    key = storage_health_asset.key
    return dg.SensorResult(
        asset_events=[
            dg.AssetObservation(asset_key=key, metadata=metadata(report)),
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=not report.failing,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"failing": ", ".join(report.failing) or "none"},
            ),
        ]
    )
