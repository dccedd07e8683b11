"""The ``storage_health`` sensor: probe the stores every 5 minutes and keep the answers."""

from datetime import UTC, datetime

import dagster as dg

from goodwe_pipeline import health, settings
from goodwe_pipeline.defs.health.assets import storage_health as storage_health_asset
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource

INTERVAL_S = 300
CHECK_NAME = "storage_is_healthy"


def probe(
    raw_store: RawStoreResource, warehouse: WarehouseResource
) -> tuple[list[health.ComponentHealth], str | None]:
    """Probe every component and append the answers to ``storage_health``.

    Returns the answers and, when the warehouse could not take them, why.
    """
    now = datetime.now(UTC)
    wh = warehouse.get_warehouse()
    try:
        results = health.probe_all(
            raw_store.get_store(),
            wh,
            raw_store.data_dir,
            now=now,
            inverters_configured=bool(settings.env("GOODWE_INVERTERS")),
            poll_seconds=settings.poll_seconds(),
        )
        try:
            wh.insert("storage_health", [r.row(now) for r in results])
            problem = None
        except Exception as exc:  # the warehouse may be the component that is down
            problem = f"{type(exc).__name__}: {exc}"
    finally:
        wh.dispose()
    return results, problem


def metadata(results: list[health.ComponentHealth]) -> dict[str, object]:
    out: dict[str, object] = {}
    for r in results:
        out[f"{r.component}_ok"] = r.ok
        out[f"{r.component}"] = r.detail
        if r.latency_ms is not None:
            out[f"{r.component}_latency_ms"] = round(float(r.latency_ms), 1)
    table = "\n".join(
        ["| component | ok | latency ms | detail |", "|---|---|---|---|"]
        + [
            f"| {r.component} | {'yes' if r.ok else '**no**'} | "
            f"{'' if r.latency_ms is None else f'{r.latency_ms:.1f}'} | {r.detail} |"
            for r in results
        ]
    )
    out["components"] = dg.MetadataValue.md(table)
    return out


@dg.sensor(
    name="storage_health",
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every 5 minutes: raw store, warehouse, spool backlog, free disk and the age of the "
        "newest reading, kept as rows of the `storage_health` table and shown on the "
        "`storage_health` asset."
    ),
)
def storage_health(
    context: dg.SensorEvaluationContext,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
) -> dg.SensorResult:
    results, problem = probe(raw_store, warehouse)
    failing = [r.component for r in results if not r.ok]
    if failing:
        context.log.warning(f"unhealthy: {', '.join(failing)}")
    if problem:
        context.log.warning(f"storage_health rows not written: {problem}")
    key = storage_health_asset.key
    return dg.SensorResult(
        asset_events=[
            dg.AssetObservation(asset_key=key, metadata=metadata(results)),
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=not failing,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"failing": ", ".join(failing) or "none"},
            ),
        ]
    )
