"""Tomorrow's prices, fetched in the early afternoon when PSE publishes the day-ahead market."""

from zoneinfo import ZoneInfo

import dagster as dg

from goodwe_pipeline.defs.partitions import daily_partitions
from goodwe_pipeline.defs.prices.assets import electricity_prices

TOMORROW_PRICES_CRON = "30 14 * * *"
REQUIRE_TOMORROW = {"ops": {"electricity_prices": {"config": {"require_tomorrow": True}}}}
"""Run config of the 14:30 run: tomorrow's prices must arrive (retried until they do)."""


@dg.schedule(
    name="tomorrow_prices",
    cron_schedule=TOMORROW_PRICES_CRON,
    execution_timezone=daily_partitions.timezone,
    target=dg.AssetSelection.assets(electricity_prices),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every day at 14:30 local time: tomorrow's quarter-hour prices, through today's "
        "partition of electricity_prices (a run whose last day is today also fetches the next "
        "day); retried every 20 minutes while PSE has not published them yet."
    ),
)
def tomorrow_prices(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = context.scheduled_execution_time.astimezone(ZoneInfo(daily_partitions.timezone)).date()
    return dg.RunRequest(
        run_key=f"tomorrow_prices:{today.isoformat()}",
        partition_key=today.isoformat(),
        run_config=REQUIRE_TOMORROW,
    )
