"""WAL mode for SQLite files that several processes may open first at once."""

from __future__ import annotations

import sqlite3
import time


def enable_wal(connection: sqlite3.Connection | sqlite3.Cursor, timeout_s: float) -> None:
    """Switch the file to WAL, waiting up to ``timeout_s`` for other processes doing the same.

    The switch needs an exclusive lock, and when connections to a new file race
    for it SQLite answers "database is locked" at once, without waiting out its
    busy timeout. WAL is a property of the file, so once it is set it is only read.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
