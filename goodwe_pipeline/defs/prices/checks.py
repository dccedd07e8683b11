"""Checks of ``electricity_prices``."""

import dagster as dg
import pandas as pd

from goodwe_pipeline.common import days
from goodwe_pipeline.defs.partitions import checked_days, daily_partitions
from goodwe_pipeline.defs.prices.assets import electricity_prices
from goodwe_pipeline.defs.resources import WarehouseResource
from goodwe_pipeline.prices.quarter_hours import quarter_hours


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
    store = warehouse.get_warehouse()
    try:
        present = store.read_frame(
            "SELECT time_start FROM electricity_prices "
            "WHERE time_start >= :start AND time_start < :end "
            "AND buy_pln_kwh IS NOT NULL AND sell_pln_kwh IS NOT NULL",
            {"start": start, "end": end},
        )
    finally:
        store.dispose()
    have = set(pd.to_datetime(present["time_start"], utc=True).dt.as_unit("us"))
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
