"""A durable local buffer for readings the raw store did not acknowledge.

When the store is down the sensor appends its readings here; ``replay`` later
writes them to the store, oldest first, and deletes entries only after the
store acknowledged them. Replaying an entry twice (say, after a crash between
the store's acknowledgement and the delete) is harmless because store writes
are idempotent.

Storage is one SQLite database, ``<directory>/spool.sqlite``, in WAL mode with
``synchronous=FULL``: ``append`` returns only after the entry is on disk, so a
process killed right after it loses nothing. Each entry holds a canonical
frame as Arrow IPC bytes. Several processes may append and replay at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from goodwe_pipeline import readings
from goodwe_pipeline.raw_store.arrow import conform, frame_to_table, table_to_frame
from goodwe_pipeline.raw_store.base import RawStore, StoreUnavailableError
from goodwe_pipeline.raw_store.prepare import prepare

FILE_NAME = "spool.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    rows INTEGER NOT NULL,
    payload BLOB NOT NULL
)
"""
_WRITE_ROWS = 5_000


@dataclass(frozen=True)
class ReplayResult:
    written: int
    """Rows the store acknowledged in this replay."""
    remaining: int
    """Rows still in the spool afterwards."""
    error: str | None = None
    """Why the replay stopped early (the store's error), if it did."""
    entries: int = 0
    """Entries written and removed in this replay."""


def _encode(frame: pd.DataFrame) -> bytes:
    table = frame_to_table(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _decode(payload: bytes) -> pd.DataFrame:
    return table_to_frame(conform(pa.ipc.open_stream(payload).read_all()))


class Spool:
    """Readings waiting for the store, in ``<directory>/spool.sqlite``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=60, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(_SCHEMA)
            yield conn

    def append(self, readings_frame: pd.DataFrame) -> int | None:
        """Keep readings until they can be replayed; durable when this returns.

        Returns the entry id, or None when there was nothing to keep. Readings a
        store would refuse (see ``raw_store.prepare``) raise ``ValueError`` here,
        so nothing unreplayable enters the spool.
        """
        frame = prepare(readings_frame).frame
        if frame.empty:
            return None
        payload = _encode(frame)
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO entries (created_at, rows, payload) VALUES (?, ?, ?)",
                (datetime.now(UTC).isoformat(), len(frame), payload),
            )
            return cursor.lastrowid

    def replay(self, store: RawStore, max_rows: int = 10_000) -> ReplayResult:
        """Write entries to ``store``, oldest first, removing each once acknowledged.

        Stops after about ``max_rows`` rows (whole entries; at least one), or at
        the first ``StoreUnavailableError``, which is reported in the result
        rather than raised.
        """
        written = entries = taken = 0
        error: str | None = None
        with self._connect() as conn:
            last_id = 0
            while taken < max_rows:
                batch = self._next_batch(conn, last_id, min(_WRITE_ROWS, max_rows - taken))
                if not batch:
                    break
                ids = [entry_id for entry_id, _, _ in batch]
                frame = pd.concat([_decode(payload) for _, _, payload in batch], ignore_index=True)
                try:
                    acknowledged = store.write(frame)
                except StoreUnavailableError as exc:
                    error = str(exc)
                    break
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in ids])
                conn.execute("COMMIT")
                written += acknowledged
                entries += len(ids)
                taken += sum(rows for _, rows, _ in batch)
                last_id = ids[-1]
            remaining = self._rows(conn)
        return ReplayResult(written=written, remaining=remaining, error=error, entries=entries)

    @staticmethod
    def _next_batch(
        conn: sqlite3.Connection, after_id: int, row_budget: int
    ) -> list[tuple[int, int, bytes]]:
        """The oldest entries after ``after_id`` holding about ``row_budget`` rows (at least one)."""
        batch: list[tuple[int, int, bytes]] = []
        rows = 0
        cursor = conn.execute(
            "SELECT id, rows, payload FROM entries WHERE id > ? ORDER BY id", (after_id,)
        )
        for entry_id, entry_rows, payload in cursor:
            if batch and rows + entry_rows > row_budget:
                break
            batch.append((entry_id, entry_rows, payload))
            rows += entry_rows
        cursor.close()
        return batch

    @staticmethod
    def _rows(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COALESCE(SUM(rows), 0) FROM entries").fetchone()[0])

    def backlog_rows(self) -> int:
        """Readings waiting in the spool."""
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return self._rows(conn)

    def backlog_entries(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def oldest(self) -> datetime | None:
        """When the oldest waiting entry was spooled (UTC), or None when empty."""
        if not self.path.exists():
            return None
        with self._connect() as conn:
            row = conn.execute("SELECT created_at FROM entries ORDER BY id LIMIT 1").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def pending(self) -> pd.DataFrame:
        """Every waiting reading as one canonical frame (for inspection)."""
        if not self.path.exists():
            return readings.empty_frame()
        with self._connect() as conn:
            payloads = [p for (p,) in conn.execute("SELECT payload FROM entries ORDER BY id")]
        if not payloads:
            return readings.empty_frame()
        return readings.normalize(pd.concat([_decode(p) for p in payloads], ignore_index=True))
