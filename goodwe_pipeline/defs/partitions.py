"""Daily partitions: calendar days in ``GOODWE_TIMEZONE`` (DST days have 23 or 25 hours).

Also the one place that turns a run's partitions into local days, for assets
(``partition_days``) and for the checks, which are not partitioned and so
need days to look at when run on their own (``checked_days``).
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from goodwe_pipeline.common import days, settings
from goodwe_pipeline.history.first_day import first_data_day


def first_partition() -> str:
    """``GOODWE_HISTORY_START`` when set, else the first day of the owner's data
    (``first_day.first_data_day``: legacy files, local stores, a persisted marker)."""
    if settings.env("GOODWE_HISTORY_START"):
        return settings.for_loading("GOODWE_HISTORY_START")
    legacy = settings.env("GOODWE_LEGACY_DIR")
    today = days.local_date(datetime.now(UTC), settings.for_loading("GOODWE_TIMEZONE"))
    return first_data_day(settings.data_dir(), Path(legacy) if legacy else None, today).isoformat()


PARTITION_SETTINGS = ("GOODWE_TIMEZONE", "GOODWE_HISTORY_START")
"""What every partition's days depend on. When one is not allowed the partitions use its
default so the code location loads, and every run that turns partitions into days fails
with the setting's one-line error (``partition_days``, ``checked_days``)."""

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=first_partition(),
    timezone=settings.for_loading("GOODWE_TIMEZONE"),
    end_offset=1,
)
"""Every day up to and including today (today is partial until midnight), for every daily
asset alike, so one backfill can run them all in one run. Tomorrow's prices are fetched by
the run of today's partition (``defs/prices``)."""

DayRange = tuple[date, date]
"""First and last local day, inclusive."""
RECENT_DAYS = 7
"""What a check looks at when run on its own: the last week, today included."""

PartitionedContext = dg.AssetExecutionContext | dg.AssetCheckExecutionContext


def require_partition_settings() -> None:
    """Fail the step with the one-line message of a partition setting that is not allowed
    (``dg.Failure``: the UI shows the message itself, not a traceback)."""
    try:
        settings.require(*PARTITION_SETTINGS)
    except settings.SettingError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def partition_days(context: PartitionedContext) -> DayRange:
    """First and last local day of the run's partition or partition range."""
    require_partition_settings()
    key_range = context.partition_key_range
    return days.parse_day(key_range.start), days.parse_day(key_range.end)


def run_days(context: PartitionedContext) -> list[date]:
    """Every local day of the run's partition range, in order."""
    return list(days.iter_days(*partition_days(context)))


def recent_days(count: int = RECENT_DAYS) -> DayRange:
    """The ``count`` local days up to and including today."""
    today = days.local_date(datetime.now(UTC), daily_partitions.timezone)
    return today - timedelta(days=count - 1), today


def checked_days(
    context: dg.AssetCheckExecutionContext,
    fallback: Callable[[dg.AssetCheckExecutionContext], DayRange] | None = None,
) -> DayRange:
    """The days a check looks at: its run's partitions (the days just materialized), or,
    when the check runs without partitions (e.g. "Execute" in the UI), ``fallback(context)``,
    by default the last ``RECENT_DAYS`` days up to today."""
    require_partition_settings()
    if context.has_partition_key_range or context.has_partition_key:
        return partition_days(context)
    return fallback(context) if fallback else recent_days()
