"""Checks of ``electricity_prices``."""

import dagster as dg
import pandas as pd

from goodwe_pipeline.common import days
from goodwe_pipeline.defs.partitions import checked_days, daily_partitions
from goodwe_pipeline.defs.prices.assets import electricity_prices
from goodwe_pipeline.defs.resources import WarehouseResource
from goodwe_pipeline.prices.quarter_hours import quarter_hours
from goodwe_pipeline.warehouse.reads import read_priced_quarter_starts


@dg.asset_check(
    asset=electricity_prices,
    description=(
        "Every quarter hour of each day has a buy and a sell price (92 on the spring DST day, "
        "100 on the autumn one). Protects session costs and daily savings from being "
        "computed over holes, e.g. rows removed by hand or a day whose prices never arrived."
    ),
)
def every_quarter_hour_priced(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    tz = daily_partitions.timezone
    first, last = checked_days(context)
    start, end = days.range_window(first, last, tz)
    with warehouse.get_warehouse() as warehouse:
        have = set(read_priced_quarter_starts(warehouse, start, end))
    incomplete = []
    for day in days.iter_days(first, last):
        expected = quarter_hours(day, tz)
        missing = [t for t in expected if t not in have]
        if missing:
            incomplete.append(
                {
                    "day": day.isoformat(),
                    "expected": len(expected),
                    "missing": len(missing),
                    "first_missing": f"{missing[0].tz_convert(tz):%H:%M}",
                }
            )
    metadata = {"days_checked": (last - first).days + 1, "days_incomplete": len(incomplete)}
    if incomplete:
        metadata["incomplete"] = dg.MetadataValue.md(
            pd.DataFrame(incomplete).head(31).to_markdown(index=False)
        )
    return dg.AssetCheckResult(passed=not incomplete, metadata=metadata)
