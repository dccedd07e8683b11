"""The warehouse: prices, sessions, reports and legacy decisions in PostgreSQL or SQLite.

One code path for both databases (SQLAlchemy Core, dialect upserts); the schema
is ``schema.py`` and Alembic migrations are applied on first use.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from goodwe_pipeline.common.settings import WarehouseSettings, check_warehouse_url
from goodwe_pipeline.common.sqlite_wal import enable_wal
from goodwe_pipeline.common.url_credentials import QUERY_SECRETS, credentials, user_part
from goodwe_pipeline.raw_store.base import Health
from goodwe_pipeline.warehouse import migrate, rows
from goodwe_pipeline.warehouse.schema import NATURAL_KEYS, UTCDateTime, metadata

SQLITE_BUSY_TIMEOUT_S = 60.0
POSTGRES_CONNECT_TIMEOUT_S = 10
BATCH_ROWS = 1_000
"""Rows per executed multi-row INSERT: bounds memory and statement size on large inputs."""
_SQLITE_BEGIN = "goodwe_sqlite_begin"


class WarehouseUnavailableError(RuntimeError):
    """The warehouse database could not be reached.

    ``url`` never carries the password, so the message is safe to log.
    """

    def __init__(self, url: str, reason: str):
        super().__init__(f"warehouse at {url} is unavailable: {reason}")
        self.url = url
        self.reason = reason


def config_version(data: Mapping[str, Any]) -> str:
    """A short hash of ``data`` as canonical JSON (sorted keys, no spaces): equal
    configurations share a version, whatever their key order or numpy types.

    Raises ``ValueError`` when ``data`` holds something JSON cannot represent.
    """
    try:
        canonical = json.dumps(
            rows.jsonable(data), sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"configuration is not plain JSON data: {exc}") from None
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _normalise_url(url: str | sa.URL) -> sa.URL:
    """``postgres://`` and driverless ``postgresql://`` URLs use psycopg2, the installed driver
    (SQLAlchemy 2.1 defaults to psycopg 3). A server URL's user part ends at its last ``@``,
    so a password may hold an unencoded ``@``."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    user = None
    if isinstance(url, str) and not url.startswith("sqlite"):
        url, user = user_part(url)
    parsed = sa.make_url(url)
    if user is not None:
        name, password = credentials(user)
        parsed = parsed.set(username=name, password=password)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _sqlite_path(url: sa.URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


class Warehouse:
    """Prices, sessions and reports: PostgreSQL in production, a SQLite file by default.

    Migrations run on first use (any method, or ``engine``), once per database
    even when several processes start together. Datetimes go in and come out
    tz-aware UTC.
    """

    def __init__(self, url: str | sa.URL):
        self._url = _normalise_url(url)
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._engine = self._create_engine()

    @classmethod
    def from_settings(cls, settings: WarehouseSettings) -> Warehouse:
        """``settings.url`` when given, else a SQLite file ``<data_dir>/warehouse.sqlite``;
        ``SettingError`` (one line, without the URL) for a URL that cannot be parsed."""
        if settings.url:
            return cls(check_warehouse_url(settings.url))
        path = settings.sqlite_path.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(sa.URL.create("sqlite", database=str(path)))

    def _create_engine(self) -> sa.Engine:
        url = self._url
        if url.get_backend_name() == "sqlite":
            path = _sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            _configure_sqlite(engine, wal=path is not None)
            return engine
        connect_args = {}
        if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg2":
            connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    @property
    def url(self) -> str:
        """The database URL with the password masked (and left out of the query)."""
        shown = self._url.difference_update_query(QUERY_SECRETS)
        return shown.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, after migrations have been applied."""
        self.migrate()
        return self._engine

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Warehouse({self.url!r})"

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sa.Connection]:
        """A connection in a transaction; unreachable databases raise ``WarehouseUnavailableError``."""
        try:
            connection = self._engine.connect()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise WarehouseUnavailableError(self.url, self._reason(exc)) from None
        with connection:
            if write:
                connection = connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
            with connection.begin():
                yield connection

    def after_fork(self) -> None:
        """In a forked child: leave the parent's pooled connections to the parent (neither
        reused nor closed here), so that this process opens connections of its own."""
        self._engine.dispose(close=False)

    def _reason(self, exc: BaseException) -> str:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        text = " ".join(line.strip() for line in reason if line.strip()) or type(exc).__name__
        password = self._url.password
        return text.replace(str(password), "***") if password else text

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the revisions this call applied (usually none)."""
        if self._migrated:
            return []
        with self._migrate_lock:
            if self._migrated:
                return []
            with self._connect(write=True) as connection:
                applied = migrate.upgrade(connection)
            self._migrated = True
            return applied

    def revision(self) -> str | None:
        """The Alembic revision the database is at."""
        with self._connect(write=False) as connection:
            return migrate.current_revision(connection)

    def _table(self, name: str) -> sa.Table:
        try:
            return metadata.tables[name]
        except KeyError:
            raise ValueError(f"unknown warehouse table {name!r}") from None

    def _insert(self, table: sa.Table):
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def upsert(self, table_name: str, data: rows.Rows) -> int:
        """Insert rows, or update every given non-key column of rows whose natural key exists.

        ``data`` is a list of dicts or a DataFrame (NaN/NaT become NULL). Rows
        repeating a key keep the last one. Returns the number of rows written.
        """
        table = self._table(table_name)
        keys = NATURAL_KEYS.get(table_name)
        if not keys:
            raise ValueError(f"{table_name} has no natural key: use insert()")
        records = rows.dedupe(table, rows.coerce_rows(table, data), keys)
        if not records:
            return 0
        self.migrate()
        with self._connect(write=True) as connection:
            for columns, group in rows.group_by_columns(records):
                statement = self._insert(table)
                updates = {c: statement.excluded[c] for c in columns if c not in keys}
                if updates:
                    statement = statement.on_conflict_do_update(index_elements=keys, set_=updates)
                else:
                    statement = statement.on_conflict_do_nothing(index_elements=keys)
                _write(connection, statement, columns, group)
        return len(records)

    def insert(self, table_name: str, data: rows.Rows) -> int:
        """Insert rows (a conflict on a key raises ``sqlalchemy.exc.IntegrityError``, nothing written)."""
        table = self._table(table_name)
        records = rows.coerce_rows(table, data)
        if not records:
            return 0
        self.migrate()
        with self._connect(write=True) as connection:
            self._insert_all(connection, table, records)
        return len(records)

    def replace(self, table_name: str, where: Mapping[str, Any], data: rows.Rows) -> int:
        """Delete the rows matching ``where`` (column equality) and insert ``data``, atomically.

        For re-derivable slices, e.g. one partition's sessions: a re-run leaves
        exactly the new rows. Every new row must match ``where``. Returns the
        number of rows inserted.
        """
        table = self._table(table_name)
        if not where:
            raise ValueError("replace() needs a non-empty where filter")
        condition = rows.coerce_rows(table, [dict(where)])[0]
        records = rows.coerce_rows(table, data)
        for index, record in enumerate(records):
            for column, value in condition.items():
                if column in record and record[column] != value:
                    raise ValueError(
                        f"{table_name}: row {index} has {column}={record[column]!r}, "
                        f"outside the replaced slice {column}={value!r}"
                    )
            for column, value in condition.items():
                record.setdefault(column, value)
        self.migrate()
        with self._connect(write=True) as connection:
            connection.execute(
                sa.delete(table).where(*(table.c[c] == v for c, v in condition.items()))
            )
            self._insert_all(connection, table, records)
        return len(records)

    def record_config(self, name: str, data: Mapping[str, Any]) -> str:
        """Keep configuration ``data`` once in ``system_configs`` under ``name``; return its
        version (``config_version(data)``).

        Insert-or-ignore: the first run to record a configuration sets its
        ``created_at``, and runs recording it again (even concurrently) change nothing.
        """
        if not name:
            raise ValueError("record_config() needs a configuration name")
        version = config_version(data)
        table = self._table("system_configs")
        record = {
            "config_name": name,
            "version": version,
            "config_data": data,
            "created_at": datetime.now(UTC),
        }
        statement = self._insert(table).on_conflict_do_nothing(
            index_elements=NATURAL_KEYS["system_configs"]
        )
        self.migrate()
        with self._connect(write=True) as connection:
            connection.execute(statement, rows.coerce_rows(table, [record]))
        return version

    def _insert_all(self, connection: sa.Connection, table: sa.Table, records: list[dict]) -> None:
        for columns, group in rows.group_by_columns(records):
            _write(connection, sa.insert(table), columns, group)

    def read_frame(
        self, statement: str | sa.Executable, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run a query (SQL text with ``:name`` parameters, or a SQLAlchemy selectable).

        Datetime columns come back tz-aware UTC; on SQLite, textual queries get
        schema columns' datetimes, dates and JSON decoded by column name.
        """
        statement, bound = _prepare(statement, params)
        self.migrate()
        with self._connect(write=False) as connection:
            result = connection.execute(statement, bound)
            return rows.frame(list(result.keys()), result.fetchall())

    def execute(
        self, statement: str | sa.Executable, params: Mapping[str, Any] | None = None
    ) -> int:
        """Run one statement in its own transaction; return the affected row count."""
        statement, bound = _prepare(statement, params)
        self.migrate()
        with self._connect(write=True) as connection:
            return connection.execute(statement, bound).rowcount

    def health(self) -> Health:
        """Whether the database answers a trivial query, and how fast. Never raises."""
        started = time.perf_counter()
        try:
            with self._connect(write=False) as connection:
                connection.execute(sa.text("SELECT 1")).scalar_one()
        except WarehouseUnavailableError as exc:
            return Health(False, _elapsed_ms(started), exc.reason)
        except Exception as exc:  # health reports every failure, it never raises
            return Health(False, _elapsed_ms(started), f"{type(exc).__name__}: {self._reason(exc)}")
        return Health(True, _elapsed_ms(started), f"{self.dialect} at {self.url}")

    def dispose(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()


def _write(
    connection: sa.Connection,
    statement: sa.Insert,
    columns: tuple[str, ...],
    records: list[dict[str, Any]],
) -> None:
    """Execute the INSERT ``statement`` of ``columns`` for ``records``: one multi-row VALUES
    statement per page of rows.

    SQLAlchemy runs an executemany of an ON CONFLICT statement row by row (through
    psycopg2, one round trip per row) and binds every value of every row on its own;
    here the statement is compiled once, its VALUES row repeated for a page, and values
    are converted for the driver a column at a time (``rows.driver_columns``).
    """
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(columns), for_executemany=True)
    head, template, tail, names = _values_row(compiled)
    unknown = set(names) - set(columns)
    if unknown:
        raise ValueError(f"{statement.table.name}: statement binds {sorted(unknown)} too")
    converted = rows.driver_columns(statement.table, names, records, dialect)
    values = [v for row in zip(*converted, strict=True) for v in row]
    width = len(names)
    page = BATCH_ROWS
    if dialect.name == "sqlite":
        limit = connection.connection.driver_connection.getlimit(
            sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
        )
        page = max(1, min(page, limit // max(width, 1)))
    sql = {}
    for start in range(0, len(records), page):
        count = min(page, len(records) - start)
        if count not in sql:
            sql[count] = f"{head}{', '.join([template] * count)}{tail}"
        params = tuple(values[start * width : (start + count) * width])
        connection.exec_driver_sql(sql[count], params)


_NAMED_BIND = re.compile(r"%\(([^)]+)\)s")


def _values_row(compiled: sa.engine.Compiled) -> tuple[str, str, str, list[str]]:
    """An INSERT's SQL split around its one VALUES row: (before, row, after, bound names in
    order), the row's parameters positional (``?`` or ``%s``)."""
    sql = compiled.string
    marker = " VALUES ("
    start = sql.find(marker)
    if start < 0 or sql.find(marker, start + 1) >= 0:
        raise ValueError(f"not a single-row INSERT ... VALUES: {sql}")
    start += len(marker) - 1
    depth = 0
    for end in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            break
    row = sql[start : end + 1]
    positions = getattr(compiled, "positiontup", None)
    if positions is not None:
        names = list(positions)
    else:
        names = _NAMED_BIND.findall(row)
        row = _NAMED_BIND.sub("%s", row)
    escaped = {v: k for k, v in (compiled.escaped_bind_names or {}).items()}
    return sql[:start], row, sql[end + 1 :], [escaped.get(n, n) for n in names]


def _prepare(
    statement: str | sa.Executable, params: Mapping[str, Any] | None
) -> tuple[sa.Executable, dict[str, Any]]:
    """Textual SQL gets typed datetime and date parameters.

    Without a type, SQLite would compare an aware datetime's text with the
    stored naive-UTC text and match nothing; typed, both backends compare
    instants.
    """
    bound = {name: rows.plain(value) for name, value in (params or {}).items()}
    if isinstance(statement, str):
        statement = sa.text(statement)
    if isinstance(statement, sa.TextClause):
        typed = []
        for name, value in bound.items():
            if isinstance(value, datetime):
                typed.append(sa.bindparam(name, type_=UTCDateTime()))
            elif isinstance(value, date):
                typed.append(sa.bindparam(name, type_=sa.Date()))
        if typed:
            statement = statement.bindparams(*typed)
    return statement, bound


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _configure_sqlite(engine: sa.Engine, *, wal: bool) -> None:
    """WAL, foreign keys, and transactions that SQLite really begins.

    pysqlite's own transaction handling neither wraps DDL nor lets a writer
    take its lock up front; with ``isolation_level=None`` we emit ``BEGIN``
    ourselves (SQLAlchemy's documented recipe), ``BEGIN IMMEDIATE`` for writes
    so concurrent writers queue on the busy timeout instead of failing.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if wal:
            enable_wal(cursor, SQLITE_BUSY_TIMEOUT_S)
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")
