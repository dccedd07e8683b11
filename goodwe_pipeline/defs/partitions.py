"""Daily partitions: calendar days in ``GOODWE_TIMEZONE`` (DST days have 23 or 25 hours)."""

import dagster as dg

from goodwe_pipeline import settings

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=settings.history_start(),
    timezone=settings.timezone(),
    end_offset=1,
)
"""Every day up to and including today (today is partial until midnight)."""

price_partitions = dg.DailyPartitionsDefinition(
    start_date=settings.history_start(),
    timezone=settings.timezone(),
    end_offset=2,
)
"""Days up to and including tomorrow: day-ahead prices are published in the early afternoon."""
