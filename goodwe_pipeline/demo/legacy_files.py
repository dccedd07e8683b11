"""Every file format the optimiser left on disk, written in one place (docs/migration.md lists them).

The demo's history (``demo.history``) and the tests' corpora
(``goodwe_pipeline_tests.legacy_corpus``, ``autumn_day``) decide *what* a folder holds;
this module decides how each file is named, laid out and dated, and owns the
optimiser's SQLite schema. Adding a format means a method here and the parser.

Times: a naive ``datetime`` is the optimiser's local wall-clock time (as in its
files); an aware one is converted to it. A file's modification time is the moment
it was written (left as now when none is given). Each writer takes the document
(serialised as the optimiser did) or, for a broken file, the exact ``str``/``bytes``.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from goodwe_pipeline.history.optimiser_db import DATABASE, ENERGY_TABLE

ENERGY_DIR = "out/energy_data"
SCHEMA_VERSION = 4

Content = dict | list | str | bytes


def array_element(document: Any) -> str:
    """``document`` laid out as ``json.dumps(indent=2)`` lays out an element of a top-level list.

    Serialise each reading once and join them with ``json_array``: a snapshot repeating
    the last 100 readings then costs a join, not 100 serialisations."""
    return "\n".join("  " + line for line in json.dumps(document, indent=2).splitlines())


def json_array(elements: Sequence[str]) -> str:
    """The elements made by ``array_element`` as one ``json.dumps(list, indent=2)`` text."""
    return "[\n" + ",\n".join(elements) + "\n]" if elements else "[]"


def gzipped_json(document: Any) -> bytes:
    """``document`` as the roadmap's ``.json.gz`` files hold it (no gzip time: same bytes each run)."""
    return gzip.compress(json.dumps(document, indent=2).encode(), mtime=0)


def _indented(content: Content) -> str | bytes:
    return content if isinstance(content, str | bytes) else json.dumps(content, indent=2)


def _json_lines(items: Iterable[dict | str]) -> str:
    """One JSON document a line (a ``str`` is written as is: a broken line)."""
    return "\n".join(s if isinstance(s, str) else json.dumps(s, default=str) for s in items) + "\n"


class LegacyFolder:
    """The optimiser's working directory (``out/`` and ``data/``), one method per file format.

    ``counts`` holds how many distinct files of each kind were written: a name written
    twice (the repeated autumn hour) is overwritten, as it was on the real disk.
    """

    def __init__(self, root: Path, tz: str):
        self.root = Path(root)
        self.zone = ZoneInfo(tz)
        self.counts: Counter[str] = Counter()
        self._written: set[str] = set()

    def wall(self, moment: datetime) -> datetime:
        """``moment`` as the optimiser's clock showed it (naive local time)."""
        if moment.tzinfo is None:
            return moment
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def stamp(self, moment: datetime) -> str:
        """The ``YYYYMMDD_HHMMSS`` of file names."""
        return self.wall(moment).strftime("%Y%m%d_%H%M%S")

    def touch(self, relative: str, written: datetime) -> None:
        aware = written if written.tzinfo is not None else written.replace(tzinfo=self.zone)
        epoch = aware.timestamp()
        os.utime(self.root / relative, (epoch, epoch))

    def write(self, relative: str, data: str | bytes, written: datetime | None, kind: str) -> str:
        """Write one file; return its path relative to the folder."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        if written is not None:
            self.touch(relative, written)
        if relative not in self._written:
            self._written.add(relative)
            self.counts[kind] += 1
        return relative

    def _stamped(
        self,
        kind: str,
        content: Content,
        named: datetime,
        written: datetime | None,
        directory: str = ENERGY_DIR,
    ) -> str:
        """``<directory>/<kind>_YYYYMMDD_HHMMSS.json``, laid out with ``indent=2``."""
        name = f"{directory}/{kind}_{self.stamp(named)}.json"
        return self.write(name, _indented(content), written, kind)

    # -- readings --

    def current_data(
        self,
        reading: Content,
        named: datetime,
        written: datetime | None = None,
        *,
        directory: str = ENERGY_DIR,
    ) -> str:
        """``current_data_YYYYMMDD_HHMMSS.json``: the standalone collector's latest reading.

        ``directory`` (relative to the folder) places a copy elsewhere, as a backup does."""
        return self._stamped("current_data", reading, named, written, directory)

    def historical_data(
        self, readings: Content, named: datetime, written: datetime | None = None
    ) -> str:
        """``historical_data_*.json``: the collector's snapshot of its last readings (a list)."""
        return self._stamped("historical_data", readings, named, written)

    def coordinator_log(
        self, day: date, states: Iterable[dict | str], written: datetime | None = None
    ) -> str:
        """``coordinator_state_YYYYMMDD.json``: JSON Lines, one coordinator state per poll."""
        name = f"out/coordinator_state_{day:%Y%m%d}.json"
        return self.write(name, _json_lines(states), written, "coordinator_state_log")

    def coordinator_snapshot(
        self, state: Content, named: datetime, written: datetime | None = None
    ) -> str:
        """``coordinator_state_YYYYMMDD_HHMMSS.json``: the state saved when the optimiser stopped."""
        name = f"out/coordinator_state_{self.stamp(named)}.json"
        data = (
            _indented(state)
            if isinstance(state, str | bytes)
            else json.dumps(state, indent=2, default=str)
        )
        return self.write(name, data, written, "coordinator_state")

    def daily_array(self, day: date, records: Content, written: datetime | None = None) -> str:
        """``energy_data_YYYY-MM-DD.json``: the day's flat records, one list."""
        name = f"{ENERGY_DIR}/energy_data_{day.isoformat()}.json"
        return self.write(name, _indented(records), written, "energy_data_daily")

    def energy_snapshot(
        self,
        reading: Content,
        named: datetime,
        written: datetime | None = None,
        *,
        gzipped: bool = False,
    ) -> str:
        """``energy_data_YYYYMMDD_HHMMSS.json[.gz]``: the storage roadmap's one-reading files.

        ``reading`` as ``bytes`` is written as is (a broken gzip)."""
        name = f"{ENERGY_DIR}/energy_data_{self.stamp(named)}.json" + (".gz" if gzipped else "")
        if isinstance(reading, str | bytes):
            data = reading
        else:
            data = gzipped_json(reading) if gzipped else json.dumps(reading, indent=2)
        return self.write(name, data, written, "energy_data_snapshot")

    def daily_stats(self, day: date, stats: Content, written: datetime | None = None) -> str:
        """``daily_stats_YYYYMMDD.json``: the collector's estimated totals of a day."""
        name = f"{ENERGY_DIR}/daily_stats_{day:%Y%m%d}.json"
        return self.write(name, _indented(stats), written, "daily_stats")

    # -- decisions, plans, sessions --

    def charging_decision(
        self, decision: Content, named: datetime, written: datetime | None = None
    ) -> str:
        """``charging_decision_YYYYMMDD_HHMMSS.json`` (variant a with a timestamp, b without)."""
        return self._stamped("charging_decision", decision, named, written)

    def charging_decision_log(
        self, day: date, decisions: Iterable[dict | str], written: datetime | None = None
    ) -> str:
        """``charging_decision_YYYYMMDD.json``: JSON Lines, one charging decision a line."""
        name = f"{ENERGY_DIR}/charging_decision_{day:%Y%m%d}.json"
        return self.write(name, _json_lines(decisions), written, "charging_decision_log")

    def selling_decision(
        self, decision: Content, named: datetime, written: datetime | None = None
    ) -> str:
        """``battery_selling_decision_YYYYMMDD_HHMMSS.json``."""
        return self._stamped("battery_selling_decision", decision, named, written)

    def daily_plan(self, day: date, plan: Content, written: datetime | None = None) -> str:
        """``out/multi_session_data/daily_plan_YYYYMMDD.json``: the day's charging sessions."""
        name = f"out/multi_session_data/daily_plan_{day:%Y%m%d}.json"
        return self.write(name, _indented(plan), written, "daily_plan")

    def selling_records(self, records: Content, written: datetime | None = None) -> str:
        """``out/battery_selling_analytics/session_records.json``: every selling session."""
        name = "out/battery_selling_analytics/session_records.json"
        return self.write(name, _indented(records), written, "selling_session_records")

    def database(self, applied_at: str, *, wal: bool = True) -> OptimiserDatabase:
        """The optimiser's SQLite database (created with its schema, in WAL mode unless
        ``wal`` is false: then with SQLite's default rollback journal)."""
        return OptimiserDatabase(self, applied_at, wal=wal)

    def database_file(self, data: bytes, written: datetime | None = None) -> str:
        """``data/goodwe_energy.db`` holding ``data`` as is (a file that is not a database)."""
        return self.write(DATABASE, data, written, "optimiser_db")


DATABASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT);
CREATE TABLE IF NOT EXISTS energy_data (
    timestamp TEXT PRIMARY KEY,
    battery_soc REAL, pv_power REAL, grid_power REAL, house_consumption REAL,
    battery_power REAL, grid_voltage REAL, grid_frequency REAL, battery_voltage REAL,
    battery_current REAL, battery_temperature REAL, price_pln REAL,
    grid_import_total_kwh REAL, grid_export_total_kwh REAL,
    house_consumption_total_kwh REAL, pv_generation_total_kwh REAL, tariff_zone TEXT
);
CREATE TABLE IF NOT EXISTS charging_sessions (
    session_id TEXT PRIMARY KEY, start_time TEXT, end_time TEXT, target_soc REAL,
    energy_kwh REAL, cost_pln REAL, status TEXT, avg_price REAL
);
CREATE TABLE IF NOT EXISTS battery_selling_sessions (
    session_id TEXT PRIMARY KEY, start_time TEXT, end_time TEXT, energy_sold_kwh REAL,
    revenue_pln REAL, avg_price REAL, status TEXT
);
CREATE TABLE IF NOT EXISTS coordinator_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, decision_type TEXT, action TEXT,
    reason TEXT, parameters TEXT, source_module TEXT
);
CREATE TABLE IF NOT EXISTS system_state (timestamp TEXT PRIMARY KEY, state TEXT, details TEXT);
CREATE TABLE IF NOT EXISTS weather_data (timestamp TEXT PRIMARY KEY, temperature REAL,
    cloud_cover REAL, solar_irradiance REAL, source TEXT);
CREATE TABLE IF NOT EXISTS price_forecasts (forecast_date TEXT, hour INTEGER, price_pln REAL,
    source TEXT, PRIMARY KEY (forecast_date, hour, source));
CREATE TABLE IF NOT EXISTS pv_forecasts (forecast_date TEXT, hour INTEGER, power_kw REAL,
    source TEXT, PRIMARY KEY (forecast_date, hour, source));
"""
"""The SQLite version's schema 4 (the ``energy_data`` table with lifetime totals)."""


class OptimiserDatabase:
    """``data/goodwe_energy.db``: readings, decisions and sessions of the SQLite version.

    Rows are dicts of column -> value, stored as given (the optimiser kept local times
    as text). ``close`` leaves no ``-wal`` file, as a cleanly stopped optimiser did."""

    def __init__(self, folder: LegacyFolder, applied_at: str, *, wal: bool = True):
        self.folder = folder
        path = folder.root / DATABASE
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(path)
        if wal:
            self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.executescript(DATABASE_SCHEMA)
        self.connection.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
            (SCHEMA_VERSION, applied_at),
        )

    def insert(self, table: str, rows: Sequence[dict], *, on_conflict: str = "") -> None:
        """Rows with the same columns (those of the first); ``on_conflict``: ``IGNORE`` keeps the
        row already there, ``REPLACE`` the one written last, as the optimiser's versions did."""
        if not rows:
            return
        columns = list(rows[0])
        verb = f"INSERT OR {on_conflict}" if on_conflict else "INSERT"
        statement = (
            f"{verb} INTO {_quoted(table)} ({', '.join(map(_quoted, columns))}) "  # noqa: S608 - quoted names
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        self.connection.executemany(statement, [tuple(r[c] for c in columns) for r in rows])

    def readings(self, records: Sequence[dict], *, on_conflict: str = "") -> None:
        self.insert(ENERGY_TABLE, records, on_conflict=on_conflict)
        self.commit()

    def decision(self, row: dict) -> None:
        """A row of ``coordinator_decisions``: timestamp, decision_type, action, reason,
        parameters (JSON text), source_module."""
        self.insert("coordinator_decisions", [row])

    def charging_session(self, row: dict) -> None:
        self.insert("charging_sessions", [row])

    def selling_session(self, row: dict) -> None:
        self.insert("battery_selling_sessions", [row])

    def commit(self) -> None:
        self.connection.commit()

    def close(self, written: datetime | None = None) -> None:
        self.commit()
        self.connection.close()
        self.folder.counts["optimiser_db"] += 1
        if written is not None:
            self.folder.touch(DATABASE, written)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
