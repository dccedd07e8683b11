"""``inverter_readings``: written by the ``poll_inverters`` sensor, not by runs."""

from datetime import timedelta

import dagster as dg

from goodwe_pipeline.common import settings
from goodwe_pipeline.defs.partitions import daily_partitions
from goodwe_pipeline.defs.resources import raw_store_kind
from goodwe_pipeline.readings import MEASUREMENT

inverter_readings = dg.AssetSpec(
    key=MEASUREMENT,
    group_name="ingest",
    kinds={raw_store_kind()},
    partitions_def=daily_partitions,
    description=(
        "Every reading of your inverters: solar, battery, grid and house power, battery "
        f"charge level and the inverter's energy counters, every {settings.for_loading('GOODWE_POLL_SECONDS')} "
        "seconds (`GOODWE_POLL_SECONDS`). The `poll_inverters` sensor writes them straight "
        "to the raw store; each event here summarises the polls since the one before."
    ),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=10)),
)
