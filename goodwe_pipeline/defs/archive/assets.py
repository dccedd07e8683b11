"""``raw_archive``: the cold copy of every day's readings, kept after InfluxDB forgets them."""

from pathlib import Path

import dagster as dg
import pandas as pd

from goodwe_pipeline.archive.daily_files import Archive, archive_days, archive_root
from goodwe_pipeline.common import days
from goodwe_pipeline.defs.partitions import daily_partitions
from goodwe_pipeline.defs.resources import RawStoreResource
from goodwe_pipeline.readings import MEASUREMENT

MAX_TABLE_ROWS = 31


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="archive",
    kinds={"parquet"},
    deps=[dg.AssetKey(MEASUREMENT), dg.AssetKey("legacy_readings")],
    description=(
        "A compressed copy of each day's raw readings, one Parquet file per inverter under "
        "`GOODWE_DATA_DIR/archive/<day>/`. It outlives the InfluxDB retention period; "
        "`goodwe-pipeline restore --start D --end D` writes archived days back into the raw "
        "store. Archiving a day again adds what is new and never removes what was archived."
    ),
)
def raw_archive(
    context: dg.AssetExecutionContext, raw_store: RawStoreResource
) -> dg.MaterializeResult:
    key_range = context.partition_key_range
    run = list(days.iter_days(days.parse_day(key_range.start), days.parse_day(key_range.end)))
    archive = Archive(archive_root(raw_store.data_dir))
    with raw_store.get_store() as raw_store:
        written = archive_days(raw_store, archive, run, daily_partitions.timezone)
    archived_days = {f.day for f in written}
    empty = [d for d in run if d not in archived_days]
    if empty:
        context.log.info(
            f"{len(empty)} of {len(run)} days had no readings in the raw store; "
            "their archive (if any) is unchanged"
        )
    table = pd.DataFrame(
        [
            {
                "day": f.day.isoformat(),
                "device": f.device_id,
                "rows": f.rows,
                "new rows": f.added,
                "kB": round(f.bytes / 1024, 1),
            }
            for f in written
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "files": len(written),
            "rows": sum(f.rows for f in written),
            "new_rows": sum(f.added for f in written),
            "bytes": sum(f.bytes for f in written),
            "days_without_readings": len(empty),
            "path": dg.MetadataValue.path(str(Path(archive.root))),
            "archived": dg.MetadataValue.md(
                table.tail(MAX_TABLE_ROWS).to_markdown(index=False)
                if len(table)
                else "_No readings in these days._"
            ),
        }
    )
