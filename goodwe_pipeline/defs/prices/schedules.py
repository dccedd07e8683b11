"""Tomorrow's prices, fetched in the early afternoon when PSE publishes the day-ahead market."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from goodwe_pipeline.defs.partitions import price_partitions
from goodwe_pipeline.defs.prices.assets import electricity_prices

TOMORROW_PRICES_CRON = "30 14 * * *"


@dg.schedule(
    name="tomorrow_prices",
    cron_schedule=TOMORROW_PRICES_CRON,
    execution_timezone=price_partitions.timezone,
    target=dg.AssetSelection.assets(electricity_prices),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every day at 14:30 local time: tomorrow's quarter-hour prices (retried every 20 "
        "minutes while PSE has not published them yet)."
    ),
)
def tomorrow_prices(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    local = context.scheduled_execution_time.astimezone(ZoneInfo(price_partitions.timezone))
    tomorrow = (local.date() + timedelta(days=1)).isoformat()
    return dg.RunRequest(run_key=f"tomorrow_prices:{tomorrow}", partition_key=tomorrow)
