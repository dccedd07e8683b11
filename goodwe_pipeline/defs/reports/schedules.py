"""When the reports run, unattended, in local time (``GOODWE_TIMEZONE``).

- 00:05 ``yesterday_prices_if_missing``: fetch yesterday's prices if the early-afternoon
  fetch did not get them all.
- 00:30 (then hourly until 05:30) ``nightly_reports``: yesterday's readings checks, battery
  sessions, daily report, archive, tariff comparison, then trends and tariff advice, once: a tick does nothing while a run for
  yesterday is queued, running or has succeeded, so a failed run is tried again at the
  next hour. It waits while a prices run for yesterday is still going, so costs use
  complete prices; at 05:30 it runs regardless (a report without costs is better than
  none; re-run it later).
- every hour at :05 ``hourly_reports``: today's partial sessions and report.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from goodwe_pipeline.common import days
from goodwe_pipeline.defs.partitions import daily_partitions
from goodwe_pipeline.defs.reports.assets import daily_energy_report, energy_trends, read_prices
from goodwe_pipeline.defs.reports.checks import readings_quality
from goodwe_pipeline.defs.resources import WarehouseResource
from goodwe_pipeline.reports.daily import priced_share

TZ = daily_partitions.timezone
PRICES_CRON = "5 0 * * *"
NIGHTLY_CRON = "30 0-5 * * *"
LAST_NIGHTLY_HOUR = 5
HOURLY_CRON = "5 * * * *"
PARTITION_TAG = "dagster/partition"
SCHEDULE_TAG = "dagster/schedule_name"
PENDING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
DONE_OR_PENDING = [*PENDING, dg.DagsterRunStatus.SUCCESS]
"""A night's run in one of these states needs no other; a failed or canceled one does."""

READINGS_CHECKS = dg.AssetSelection.checks(readings_quality)

nightly_reports_job = dg.define_asset_job(
    "nightly_reports_job",
    selection=dg.AssetSelection.assets(
        "battery_sessions",
        daily_energy_report,
        energy_trends,
        "raw_archive",
        "tariff_comparison",
        "tariff_advice",
    )
    | READINGS_CHECKS,
    description=(
        "A finished day: readings checks, battery sessions, the daily report, the archive "
        "copy, the tariff comparison, then the 7/30/90-day trends and the tariff advice."
    ),
)

hourly_reports_job = dg.define_asset_job(
    "hourly_reports_job",
    selection=dg.AssetSelection.assets("battery_sessions", daily_energy_report) | READINGS_CHECKS,
    description="Today so far: readings checks, battery sessions and the partial daily report.",
)


def local_date(context: dg.ScheduleEvaluationContext) -> date:
    return context.scheduled_execution_time.astimezone(ZoneInfo(TZ)).date()


def prices_complete(warehouse: WarehouseResource, day: date) -> bool:
    start, end = days.day_window(day, TZ)
    with warehouse.get_warehouse() as warehouse:
        return priced_share(read_prices(warehouse, start, end), start, end) >= 1.0


def known_prices_complete(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource, day: date
) -> bool | None:
    """Whether every quarter hour of ``day`` has a price; None when the warehouse cannot tell
    (the schedules then request their run anyway, which reports the outage itself)."""
    try:
        return prices_complete(warehouse, day)
    except Exception as exc:  # a schedule tick that raises would request nothing at all
        context.log.warning(
            f"cannot tell whether the prices of {day} are complete "
            f"({type(exc).__name__}: {exc}); requesting the run anyway"
        )
        return None


@dg.schedule(
    name="yesterday_prices_if_missing",
    cron_schedule=PRICES_CRON,
    execution_timezone=TZ,
    target=dg.AssetSelection.assets("electricity_prices"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Just after midnight: fetch yesterday's quarter-hour prices if any are missing, so "
        "the night's report can put a price on every quarter hour."
    ),
)
def yesterday_prices_if_missing(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
) -> dg.RunRequest | dg.SkipReason:
    day = local_date(context) - timedelta(days=1)
    if known_prices_complete(context, warehouse, day):
        return dg.SkipReason(f"every quarter hour of {day} already has a price")
    return dg.RunRequest(run_key=f"yesterday_prices:{day}", partition_key=day.isoformat())


def _runs(
    context: dg.ScheduleEvaluationContext, tags: dict[str, str], statuses: list[dg.DagsterRunStatus]
) -> bool:
    """Whether a run with ``tags`` in one of ``statuses`` exists."""
    filters = dg.RunsFilter(tags=tags, statuses=statuses)
    return bool(context.instance.get_run_records(filters=filters, limit=1))


@dg.schedule(
    name="nightly_reports",
    cron_schedule=NIGHTLY_CRON,
    job=nightly_reports_job,
    execution_timezone=TZ,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "After midnight: yesterday's readings checks, battery sessions, daily report, "
        "archive and trends, once; a failed run is tried again every hour until 05:30. "
        "Waits (up to 05:30) while yesterday's prices are still being fetched."
    ),
)
def nightly_reports(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
) -> dg.RunRequest | dg.SkipReason:
    local = context.scheduled_execution_time.astimezone(ZoneInfo(TZ))
    day = local.date() - timedelta(days=1)
    key = day.isoformat()
    if _runs(context, {SCHEDULE_TAG: "nightly_reports", PARTITION_TAG: key}, DONE_OR_PENDING):
        return dg.SkipReason(f"the reports of {key} already ran or are running")
    fetching = _runs(
        context, {SCHEDULE_TAG: "yesterday_prices_if_missing", PARTITION_TAG: key}, PENDING
    )
    if (
        fetching
        and local.hour < LAST_NIGHTLY_HOUR
        and known_prices_complete(context, warehouse, day) is False
    ):
        return dg.SkipReason(f"waiting for the prices of {key}, still being fetched")
    return dg.RunRequest(run_key=f"nightly_reports:{key}:{local:%H%M}", partition_key=key)


@dg.schedule(
    name="hourly_reports",
    cron_schedule=HOURLY_CRON,
    job=hourly_reports_job,
    execution_timezone=TZ,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: today's battery sessions and partial daily report.",
)
def hourly_reports(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    moment: datetime = context.scheduled_execution_time
    return dg.RunRequest(
        run_key=f"hourly_reports:{moment.isoformat()}",
        partition_key=local_date(context).isoformat(),
    )
