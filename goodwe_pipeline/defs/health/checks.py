"""``storage_is_healthy``: evaluated every 5 minutes by the sensor, or on demand in the UI."""

import dagster as dg

from goodwe_pipeline.defs.health.assets import storage_health
from goodwe_pipeline.defs.health.sensors import CHECK_NAME, check_storage, metadata
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource


@dg.asset_check(
    asset=storage_health.key,
    name=CHECK_NAME,
    description=(
        "Raw store and warehouse answer, no readings are stuck in the spool, at least 1 GB "
        "is free in the data dir and the newest reading is recent. Protects against losing "
        "readings silently while a store is down or the disk fills up."
    ),
)
def storage_is_healthy(
    context: dg.AssetCheckExecutionContext,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    report = check_storage(raw_store, warehouse, context.log)
    return dg.AssetCheckResult(
        passed=not report.failing, severity=dg.AssetCheckSeverity.WARN, metadata=metadata(report)
    )
