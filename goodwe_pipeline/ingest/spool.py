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

An entry the store refuses because of what it holds (an unparsable point, a
field-type conflict, points beyond the retention policy) or that cannot be
decoded would block the queue forever. An entry holding several devices'
readings is first split into one entry per device (at the end of the queue),
so the others land; a one-device entry refused again ``replay`` moves to the
``dead_letters`` table of the same database, with the reason and the time, and
goes on with the next entry. Dead letters are never deleted by the pipeline;
``dead_letters()`` lists them and ``requeue_dead_letters()`` puts them back in
the queue once the cause is fixed. ``set_aside`` puts readings the queue itself
refuses (``append`` raised for them) straight into the dead letters.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from goodwe_pipeline import readings
from goodwe_pipeline.common.sqlite_wal import enable_wal
from goodwe_pipeline.raw_store.arrow import conform, frame_to_table, table_to_frame
from goodwe_pipeline.raw_store.base import RawStore, StoreUnavailableError
from goodwe_pipeline.raw_store.prepare import prepare, safe_device_id

DIR_NAME = "spool"
FILE_NAME = "spool.sqlite"
BUSY_TIMEOUT_S = 60.0
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        rows INTEGER NOT NULL,
        payload BLOB NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        rows INTEGER NOT NULL,
        payload BLOB NOT NULL,
        failed_at TEXT NOT NULL,
        reason TEXT NOT NULL
    )
    """,
)
_WRITE_ROWS = 5_000
_CONTENT_STATUSES = frozenset({400, 413, 422})
"""HTTP answers about the body: unparsable, a field-type conflict, beyond the retention
policy (400 on InfluxDB 1.x/3.x, 422 on 2.x), too large (413)."""
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def spool_dir(data_dir: str | Path) -> Path:
    """Where the spool of a data dir lives (``GOODWE_DATA_DIR/spool``)."""
    return Path(data_dir) / DIR_NAME


def _status(exc: StoreUnavailableError) -> int | None:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    match = _HTTP_STATUS.search(exc.reason)
    return int(match.group(1)) if match else None


def refused_for_content(exc: Exception) -> bool:
    """Whether a write failed because of the readings it carried, so it never will succeed.

    That is a ``ValueError`` (readings a store cannot keep) or an HTTP 400, 413 or
    422 refusal. Other refusals (authentication 401/403, a missing database 404)
    are about the store's configuration: once fixed, the same readings land.
    """
    if isinstance(exc, ValueError):
        return True
    return isinstance(exc, StoreUnavailableError) and _status(exc) in _CONTENT_STATUSES


def store_answered(exc: StoreUnavailableError) -> bool:
    """Whether the store answered (and refused: HTTP 4xx) rather than being unreachable."""
    status = _status(exc)
    return status is not None and 400 <= status < 500


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
    store_down: bool = False
    """The replay stopped because the store could not be reached (connection error,
    timeout, 5xx), as opposed to answering with a refusal."""
    dead_lettered: tuple[DeadLetter, ...] = ()
    """Entries moved to the dead letters in this replay."""


@dataclass(frozen=True)
class DeadLetter:
    """A spool entry set aside because the store refused its content or it cannot be decoded."""

    id: int
    spooled_at: datetime
    failed_at: datetime
    rows: int
    reason: str
    devices: tuple[str, ...] = ()
    """The devices whose readings it holds (as stored: ``raw_store.prepare.safe_device_id``)."""

    def describe(self) -> str:
        return (
            f"spool entry {self.id} ({self.rows} readings spooled "
            f"{self.spooled_at.isoformat(timespec='seconds')}) set aside as a dead letter: "
            f"{self.reason}"
        )


def _encode(frame: pd.DataFrame) -> bytes:
    table = frame_to_table(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _decode(payload: bytes) -> pd.DataFrame:
    return table_to_frame(conform(pa.ipc.open_stream(payload).read_all()))


def _devices(payload: bytes) -> tuple[str, ...]:
    """The devices an entry holds readings of; none when it cannot be decoded."""
    try:
        column = pa.ipc.open_stream(payload).read_all().column(readings.DEVICE_ID)
    except Exception:  # noqa: BLE001 - an undecodable entry names no device
        return ()
    return tuple(sorted(safe_device_id(str(d)) for d in pc.unique(column).to_pylist()))


class Spool:
    """Readings waiting for the store, in ``<directory>/spool.sqlite``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with closing(
            sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        ) as conn:
            enable_wal(conn, BUSY_TIMEOUT_S)
            conn.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                conn.execute(statement)
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

    def set_aside(self, readings_frame: pd.DataFrame, reason: str) -> DeadLetter:
        """Keep readings neither the store nor the spool's queue can take (``append`` refused
        them) straight in the dead letters, with ``reason``: kept, listed, never replayed
        until requeued."""
        frame = readings.normalize(readings_frame)
        payload = _encode(frame)
        now = datetime.now(UTC)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            entry_id = conn.execute(
                "INSERT INTO entries (created_at, rows, payload) VALUES (?, ?, ?)",
                (now.isoformat(), len(frame), payload),
            ).lastrowid
            conn.execute(
                "INSERT INTO dead_letters (id, created_at, rows, payload, failed_at, reason) "
                "SELECT id, created_at, rows, payload, created_at, ? FROM entries WHERE id = ?",
                (reason, entry_id),
            )
            conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            conn.execute("COMMIT")
        assert entry_id is not None
        return DeadLetter(entry_id, now, now, len(frame), reason)

    def replay(
        self, store: RawStore, max_rows: int = 10_000, *, until: float | None = None
    ) -> ReplayResult:
        """Write entries to ``store``, oldest first, removing each once acknowledged.

        Stops after about ``max_rows`` rows (whole entries; at least one), before
        starting a write after ``until`` (a ``time.monotonic()`` value), or at the
        first ``StoreUnavailableError`` that is not about an entry's content; that
        error is reported in the result rather than raised. An entry refused for
        its content (``refused_for_content``) or that cannot be decoded becomes a
        dead letter and the replay goes on.
        """
        replay = _Replay(store, until)
        with self._connect() as conn:
            last_id = taken = 0
            while taken < max_rows and not replay.stopped:
                batch = self._next_batch(conn, last_id, min(_WRITE_ROWS, max_rows - taken))
                if not batch:
                    break
                last_id = batch[-1][0]
                taken += sum(rows for _, rows, _ in batch)
                replay.run(conn, batch)
            remaining = self._rows(conn)
        return ReplayResult(
            written=replay.written,
            remaining=remaining,
            error=replay.error,
            entries=replay.entries,
            store_down=replay.store_down,
            dead_lettered=tuple(replay.dead),
        )

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

    def dead_letters(self) -> list[DeadLetter]:
        """Entries set aside by ``replay``, oldest first (their readings are kept)."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, created_at, failed_at, rows, reason, payload FROM dead_letters "
                "ORDER BY id"
            ).fetchall()
        return [
            DeadLetter(
                id=entry_id,
                spooled_at=datetime.fromisoformat(created_at),
                failed_at=datetime.fromisoformat(failed_at),
                rows=int(rows),
                reason=reason,
                devices=_devices(payload),
            )
            for entry_id, created_at, failed_at, rows, reason, payload in rows
        ]

    def dead_letter_count(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def requeue_dead_letters(self, ids: Sequence[int] | None = None) -> int:
        """Put dead letters (all, or those with these ids) back in the queue, in their
        original place, once the cause is fixed; returns how many moved."""
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            moving = [row[0] for row in conn.execute("SELECT id FROM dead_letters ORDER BY id")]
            if ids is not None:
                chosen = {int(i) for i in ids}
                moving = [i for i in moving if i in chosen]
            conn.executemany(
                "INSERT INTO entries (id, created_at, rows, payload) "
                "SELECT id, created_at, rows, payload FROM dead_letters WHERE id = ?",
                [(i,) for i in moving],
            )
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(i,) for i in moving])
            conn.execute("COMMIT")
        return len(moving)

    def pending(self) -> pd.DataFrame:
        """Every waiting reading as one canonical frame (for inspection)."""
        if not self.path.exists():
            return readings.empty_frame()
        with self._connect() as conn:
            payloads = [p for (p,) in conn.execute("SELECT payload FROM entries ORDER BY id")]
        if not payloads:
            return readings.empty_frame()
        return readings.normalize(pd.concat([_decode(p) for p in payloads], ignore_index=True))


class _Replay:
    """One replay's progress: writes groups of entries, isolates and sets aside bad ones."""

    def __init__(self, store: RawStore, until: float | None):
        self.store = store
        self.until = until
        self.written = self.entries = 0
        self.error: str | None = None
        self.store_down = False
        self.dead: list[DeadLetter] = []

    @property
    def stopped(self) -> bool:
        return self.error is not None or (self.until is not None and time.monotonic() >= self.until)

    def run(self, conn: sqlite3.Connection, batch: list[tuple[int, int, bytes]]) -> None:
        """Write the decodable entries of ``batch`` as one frame; when the store refuses it
        for its content, write them one by one to find the entries at fault."""
        decoded: list[tuple[int, pd.DataFrame]] = []
        for entry_id, _, payload in batch:
            try:
                decoded.append((entry_id, _decode(payload)))
            except Exception as exc:  # noqa: BLE001 - any decoding failure is the entry's
                self._bury(conn, entry_id, f"cannot be decoded: {type(exc).__name__}: {exc}")
        if not decoded or self.stopped:
            return
        refused = self._write(conn, decoded)
        if refused is None:
            return
        if len(decoded) == 1:
            self._refused(conn, decoded[0], refused)
            return
        for entry in decoded:
            if self.stopped:
                return
            refused = self._write(conn, [entry])
            if refused is not None:
                self._refused(conn, entry, refused)

    def _refused(
        self, conn: sqlite3.Connection, entry: tuple[int, pd.DataFrame], refused: Exception
    ) -> None:
        """An entry refused for its content: one device's readings become a dead letter;
        several devices' are split into one entry per device, at the end of the queue, so
        the replay lands the others and sets aside only the device at fault."""
        entry_id, frame = entry
        groups = [g for _, g in frame.groupby(readings.DEVICE_ID, sort=True)]
        if len(groups) < 2:
            self._bury(conn, entry_id, str(refused))
            return
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT created_at FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:  # another replay got there first
            conn.execute("ROLLBACK")
            return
        conn.executemany(
            "INSERT INTO entries (created_at, rows, payload) VALUES (?, ?, ?)",
            [(row[0], len(g), _encode(g.reset_index(drop=True))) for g in groups],
        )
        conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
        conn.execute("COMMIT")

    def _write(
        self, conn: sqlite3.Connection, group: list[tuple[int, pd.DataFrame]]
    ) -> Exception | None:
        """Write and delete ``group``; the exception when refused for content, else None
        (other failures stop the replay)."""
        frame = pd.concat([frame for _, frame in group], ignore_index=True)
        try:
            acknowledged = self.store.write(frame)
        except (StoreUnavailableError, ValueError) as exc:
            if refused_for_content(exc):
                return exc
            assert isinstance(exc, StoreUnavailableError)
            self.error = str(exc)
            self.store_down = not store_answered(exc)
            return None
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i, _ in group])
        conn.execute("COMMIT")
        self.written += int(acknowledged)
        self.entries += len(group)
        return None

    def _bury(self, conn: sqlite3.Connection, entry_id: int, reason: str) -> None:
        failed_at = datetime.now(UTC)
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "SELECT created_at, rows FROM entries WHERE id = ?", (entry_id,)
        ).fetchone()
        if row is None:  # another replay got there first
            conn.execute("ROLLBACK")
            return
        created_at, rows = row
        conn.execute(
            "INSERT INTO dead_letters (id, created_at, rows, payload, failed_at, reason) "
            "SELECT id, created_at, rows, payload, ?, ? FROM entries WHERE id = ?",
            (failed_at.isoformat(), reason, entry_id),
        )
        conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
        conn.execute("COMMIT")
        self.dead.append(
            DeadLetter(entry_id, datetime.fromisoformat(created_at), failed_at, rows, reason)
        )
