"""Local calendar days and their UTC windows (DST days have 23 or 25 hours)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def day_window(day: date, tz: str) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the local calendar ``day`` in ``tz``."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def range_window(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """UTC window from the start of ``first`` to the end of ``last`` (inclusive days)."""
    return day_window(first, tz)[0], day_window(last, tz)[1]


def iter_days(first: date, last: date) -> Iterator[date]:
    """Each date from ``first`` to ``last`` inclusive."""
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def local_date(moment: datetime, tz: str) -> date:
    """The local calendar date of an aware ``moment``."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(ZoneInfo(tz)).date()


def parse_day(text: str) -> date:
    return date.fromisoformat(text)
