"""``storage_health``: the warehouse table the ``storage_health`` sensor writes every 5 minutes."""

import dagster as dg

from goodwe_pipeline.defs.resources import warehouse_kind

storage_health = dg.AssetSpec(
    key="storage_health",
    group_name="ingest",
    kinds={warehouse_kind()},
    description=(
        "Is everything that keeps your data working? Every 5 minutes: does the raw store "
        "(InfluxDB or the Parquet files) answer, does the warehouse answer, are readings "
        "waiting in the local spool because the store was down, how much disk is free, and "
        "how old the newest reading is. Each check is a row in the `storage_health` table; "
        "the latest is shown here."
    ),
)
