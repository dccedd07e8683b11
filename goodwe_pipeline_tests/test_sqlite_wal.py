"""WAL switch on a file another connection has locked: wait for it, then switch."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest

from goodwe_pipeline.common.sqlite_wal import enable_wal


@contextmanager
def exclusively_locked(path) -> Iterator[threading.Event]:
    """Hold an exclusive lock on ``path`` from another thread until the yielded event is set."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("BEGIN EXCLUSIVE")
            held.set()
            release.wait(60)
            conn.execute("COMMIT")

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        yield release
    finally:
        release.set()
        holder.join(10)


def test_waits_for_a_lock_sqlite_would_not_wait_for(tmp_path):
    path = tmp_path / "new.sqlite"
    with exclusively_locked(path) as release:
        # timeout=0: SQLite's own busy handler gives up at once, as it does in the first-use race
        with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as conn:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                conn.execute("PRAGMA journal_mode = WAL")
            threading.Timer(0.3, release.set).start()
            enable_wal(conn, timeout_s=30)
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with closing(sqlite3.connect(path)) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_gives_up_with_sqlites_error_after_the_timeout(tmp_path):
    path = tmp_path / "new.sqlite"
    with exclusively_locked(path):
        with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as conn:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                enable_wal(conn, timeout_s=0.2)
