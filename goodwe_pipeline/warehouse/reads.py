"""The warehouse's reads: one function per query, for assets, checks and commands alike.

Each takes the ``Warehouse`` and the query's values as bound parameters; identifiers are
quoted, and the SQL is the same on SQLite and PostgreSQL. ``Warehouse.read_frame`` gives
datetimes back tz-aware UTC; date columns a caller compares with ``date`` objects are
converted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from goodwe_pipeline.warehouse import rows
from goodwe_pipeline.warehouse.schema import daily_energy, migration_files
from goodwe_pipeline.warehouse.store import Warehouse

MIGRATION_FILES_CHUNK = 500
"""Paths per ``read_migration_files`` query: bounds the statement's size."""


def _read_days(
    warehouse: Warehouse,
    query: str | sa.Executable,
    first: date,
    last: date,
    day_column: str,
    **params: object,
) -> pd.DataFrame:
    """``query``'s rows for the days ``first`` .. ``last`` (bound as ``:first`` and ``:last``,
    with ``params``), ``day_column`` as dates."""
    frame = warehouse.read_frame(query, {"first": first, "last": last, **params})
    frame[day_column] = pd.to_datetime(frame[day_column]).dt.date
    return frame


def read_prices(warehouse: Warehouse, start: datetime, end: datetime) -> pd.DataFrame:
    """Price rows overlapping ``[start, end)``, in time order."""
    return warehouse.read_frame(
        'SELECT "time_start", "time_end", "zone", "buy_pln_kwh", "sell_pln_kwh", '
        '"market_pln_kwh" FROM "electricity_prices" '
        'WHERE "time_end" > :start AND "time_start" < :end ORDER BY "time_start"',
        {"start": start, "end": end},
    )


def read_priced_quarter_starts(warehouse: Warehouse, start: datetime, end: datetime) -> pd.Series:
    """``time_start`` of the price rows beginning in ``[start, end)`` with a buy and a sell
    price, as tz-aware UTC microseconds."""
    frame = warehouse.read_frame(
        'SELECT "time_start" FROM "electricity_prices" '
        'WHERE "time_start" >= :start AND "time_start" < :end '
        'AND "buy_pln_kwh" IS NOT NULL AND "sell_pln_kwh" IS NOT NULL',
        {"start": start, "end": end},
    )
    return pd.to_datetime(frame["time_start"], utc=True).dt.as_unit("us")


def read_sessions(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """Battery sessions of the days ``first`` .. ``last`` (``partition_date`` as dates)."""
    return _read_days(
        warehouse,
        'SELECT * FROM "battery_sessions" '
        'WHERE "partition_date" >= :first AND "partition_date" <= :last '
        'ORDER BY "start_time", "device_id"',
        first,
        last,
        "partition_date",
    )


def read_sessions_by_device(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """What the sessions checks look at, of the days ``first`` .. ``last``, ordered by device
    and start."""
    return warehouse.read_frame(
        'SELECT "session_id", "device_id", "kind", "start_time", "end_time", "energy_kwh", '
        '"soc_start", "soc_end", "partition_date" FROM "battery_sessions" '
        'WHERE "partition_date" >= :first AND "partition_date" <= :last '
        'ORDER BY "device_id", "start_time"',
        {"first": first, "last": last},
    )


def read_sessions_until(warehouse: Warehouse, last: date) -> pd.DataFrame:
    """What the battery's limits are learned from, of every session of the days up to
    ``last``: device, kind, status, energy, charge levels and duration."""
    return warehouse.read_frame(
        'SELECT "device_id", "kind", "status", "energy_kwh", "soc_start", "soc_end", '
        '"duration_s" FROM "battery_sessions" WHERE "partition_date" <= :last',
        {"last": last},
    )


def read_open_sessions_before(
    warehouse: Warehouse, first: date, earliest: datetime
) -> pd.DataFrame:
    """``session_id`` and ``start_time`` of the sessions of days before ``first`` still stored
    ``open`` that started at ``earliest`` or later."""
    return warehouse.read_frame(
        'SELECT "session_id", "start_time" FROM "battery_sessions" '
        'WHERE "status" = :status AND "partition_date" < :first AND "start_time" >= :earliest',
        {"status": "open", "first": first, "earliest": earliest},
    )


def read_charges(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """The charge sessions of the days ``first`` .. ``last``: device, day, energy and cost
    (``partition_date`` as dates)."""
    return _read_days(
        warehouse,
        'SELECT "device_id", "kind", "partition_date", "energy_kwh", "cost_pln" '
        'FROM "battery_sessions" WHERE "kind" = :kind '
        'AND "partition_date" >= :first AND "partition_date" <= :last',
        first,
        last,
        "partition_date",
        kind="charge",
    )


def read_planned_sessions(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """The optimiser's planned sessions of the days ``first`` .. ``last`` (``plan_date`` as
    dates)."""
    return _read_days(
        warehouse,
        'SELECT * FROM "legacy_planned_sessions" '
        'WHERE "plan_date" >= :first AND "plan_date" <= :last',
        first,
        last,
        "plan_date",
    )


def read_daily(
    warehouse: Warehouse, first: date, last: date, columns: Sequence[str] = ()
) -> pd.DataFrame:
    """``daily_energy`` rows of the days ``first`` .. ``last`` by day and device (``day`` as
    dates): every column, or ``day``, ``device_id`` and ``columns``."""
    known = set(daily_energy.c.keys())
    unknown = [name for name in columns if name not in known]
    if unknown:
        raise ValueError(f"daily_energy has no column {', '.join(unknown)}")
    wanted = [*dict.fromkeys(["day", "device_id", *columns])] if columns else daily_energy.c.keys()
    query = (
        sa.select(*(daily_energy.c[name] for name in wanted))
        .where(
            daily_energy.c.day >= sa.bindparam("first"), daily_energy.c.day <= sa.bindparam("last")
        )
        .order_by(daily_energy.c.day, daily_energy.c.device_id)
    )
    return _read_days(warehouse, query, first, last, "day")


def read_tariff_comparison(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """The tariff comparison's costs per day, device, offer and case (``day`` as dates)."""
    return _read_days(
        warehouse,
        'SELECT "day", "device_id", "offer", "scenario", "current", "energy_cost_pln", '
        '"total_cost_pln" FROM "tariff_comparison" WHERE "day" >= :first AND "day" <= :last',
        first,
        last,
        "day",
    )


def read_reports(warehouse: Warehouse, report_type: str, first: date, last: date) -> pd.DataFrame:
    """``report_date``, ``device_id`` and ``report_data`` of the ``analytics_reports`` rows of
    one type dated ``first`` .. ``last`` (``report_date`` as dates)."""
    return _read_days(
        warehouse,
        'SELECT "report_date", "device_id", "report_data" FROM "analytics_reports" '
        'WHERE "report_type" = :report_type '
        'AND "report_date" >= :first AND "report_date" <= :last',
        first,
        last,
        "report_date",
        report_type=report_type,
    )


def read_migration_files(warehouse: Warehouse, paths: list[str]) -> dict[str, dict[str, Any]]:
    """Stored ``migration_files`` rows for ``paths``, by path.

    The columns are selected untyped and decoded a column at a time
    (``rows.result_columns``): SQLAlchemy's per-value result processing was most of the
    time of loading a large folder's rows.
    """
    names = list(migration_files.c.keys())
    found: dict[str, dict[str, Any]] = {}
    with warehouse.engine.connect() as connection:
        for offset in range(0, len(paths), MIGRATION_FILES_CHUNK):
            chunk = paths[offset : offset + MIGRATION_FILES_CHUNK]
            statement = (
                sa.select(*(sa.column(name) for name in names))
                .select_from(migration_files)
                .where(migration_files.c.path.in_(chunk))
            )
            result = connection.execute(statement)
            description = result.cursor.description
            fetched = result.all()
            columns = rows.result_columns(migration_files, description, fetched, connection.dialect)
            for values in zip(*columns, strict=True):
                found[values[0]] = dict(zip(names, values, strict=True))
    return found
