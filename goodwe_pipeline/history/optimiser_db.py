"""The optimiser's SQLite database (``data/goodwe_energy.db``), opened strictly read-only.

``mode=ro`` alone is not enough: opening a WAL-mode database that has no
``-wal`` file creates ``-wal`` and ``-shm`` files beside it (and leaves them).
So a WAL database without a ``-wal`` file (nobody is writing it), or any
database in a directory we may not write, is opened ``immutable=1``: SQLite
then reads the file as a plain file and creates nothing. A database with a live
``-wal`` (the optimiser still running) is opened ``mode=ro`` to see its latest
commits; if that fails it falls back to ``immutable=1``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from goodwe_pipeline.history.files import Unusable, open_regular

SQLITE_MAGIC = b"SQLite format 3\x00"
DATABASE = "data/goodwe_energy.db"
"""Where the optimiser keeps its database, relative to its folder."""
ENERGY_TABLE = "energy_data"


def _uri(path: Path, immutable: bool) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")


def _wants_immutable(path: Path) -> bool:
    fd, _ = open_regular(path)
    try:
        header = os.pread(fd, 100, 0)
    finally:
        os.close(fd)
    if not header.startswith(SQLITE_MAGIC):
        raise Unusable("not an SQLite database")
    wal = len(header) > 19 and header[18] == 2
    wal_file = path.with_name(path.name + "-wal")
    if wal and not wal_file.exists():
        return True
    return not os.access(path.parent, os.W_OK)


@contextmanager
def open_database(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection; ``Unusable`` when the file is no readable SQLite database."""
    try:
        immutable = _wants_immutable(path)
    except OSError as exc:
        raise Unusable(f"cannot read the database: {exc.strerror or exc}") from None
    attempts = [True] if immutable else [False, True]
    last_error = "cannot open"
    for attempt in attempts:
        try:
            connection = sqlite3.connect(_uri(path, attempt), uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            last_error = str(exc)
            continue
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            connection.close()
            last_error = str(exc)
            continue
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        finally:
            connection.close()
        return
    raise Unusable(f"not a readable SQLite database: {last_error}")


def columns(connection: sqlite3.Connection, table: str) -> list[str]:
    rows = connection.execute("SELECT name FROM pragma_table_info(?)", (table,)).fetchall()
    return [row[0] for row in rows]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rows_between(
    connection: sqlite3.Connection,
    table: str,
    time_column: str,
    first: date,
    last: date,
) -> list[dict[str, Any]]:
    """Rows whose local timestamp text falls on ``first``..``last`` (plus a day each side).

    Timestamps are ISO text (``T`` or space separated), so the date prefix orders
    them; the margin covers rows written with an offset. Rows come in insertion
    order (``rowid``), which the DST rules rely on.
    """
    names = columns(connection, table)
    if time_column not in names:
        return []
    low = (first - timedelta(days=1)).isoformat()
    high = (last + timedelta(days=2)).isoformat()
    order = "rowid" if _has_rowid(connection, table) else _quoted(time_column)
    statement = (
        f"SELECT * FROM {_quoted(table)} "  # noqa: S608 - identifiers quoted, values bound
        f"WHERE {_quoted(time_column)} >= ? AND {_quoted(time_column)} < ? ORDER BY {order}"
    )
    try:
        cursor = connection.execute(statement, (low, high))
    except sqlite3.Error as exc:
        raise Unusable(f"cannot read table {table}: {exc}") from None
    return [dict(row) for row in cursor]


def _has_rowid(connection: sqlite3.Connection, table: str) -> bool:
    try:
        connection.execute(f"SELECT rowid FROM {_quoted(table)} LIMIT 1")  # noqa: S608
    except sqlite3.Error:
        return False
    return True


def has_table(connection: sqlite3.Connection, table: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (table,)
    ).fetchone()
    return row is not None


def energy_summary(connection: sqlite3.Connection, earliest: str, latest: str) -> dict[str, Any]:
    """Rows, the span of plausible timestamps (local text) and the count outside it."""
    if not has_table(connection, ENERGY_TABLE):
        raise Unusable("the database has no energy_data table")
    row = connection.execute(
        "SELECT count(*), "
        "sum(CASE WHEN timestamp >= ? AND timestamp < ? THEN 0 ELSE 1 END), "
        "min(CASE WHEN timestamp >= ? AND timestamp < ? THEN timestamp END), "
        "max(CASE WHEN timestamp >= ? AND timestamp < ? THEN timestamp END) "
        "FROM energy_data",
        (earliest, latest) * 3,
    ).fetchone()
    return {
        "rows": int(row[0] or 0),
        "implausible": int(row[1] or 0),
        "first": row[2],
        "last": row[3],
    }
