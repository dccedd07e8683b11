"""The provisioned Grafana dashboard's queries, expanded and run as Grafana would run them.

Shared by ``test_deploy`` (hand-made rows) and ``test_e2e_webserver`` (rows the
pipeline wrote). Every panel target and template variable is read from
``deploy/grafana/dashboards/goodwe.json``; Grafana's macros are expanded the way
its InfluxDB and PostgreSQL data sources expand them; InfluxQL goes to a real
``influxd``, SQL to the warehouse as the read-only role ``deploy/postgres/init.sh``
creates for Grafana (``stack_postgres``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from goodwe_pipeline_tests.servers import (
    POSTGRES_ADMIN_URL,
    InfluxServer,
    create_postgres_database,
    drop_postgres_database,
)

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "goodwe.json"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "init.sh"
INFLUXDB = "influxdb"
POSTGRES = "grafana-postgresql-datasource"
MIN_INTERVAL = timedelta(seconds=10)
"""The InfluxDB data source's ``timeInterval`` (provisioning/datasources/goodwe.yaml)."""
MAX_DATA_POINTS = 1000
"""Roughly the pixel width of a full-width panel: Grafana's default ``maxDataPoints``."""
UNEXPANDED = re.compile(r"\$\{?[A-Za-z_]")
"""A Grafana variable or macro left in a query after expansion."""
_RELATIVE = re.compile(r"now(?:-(\d+)([smhdw]))?")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Grafana's rangeutil.roundInterval from 10 s up (MIN_INTERVAL is 10 s): (below ms, interval).
_ROUNDED = (
    (12_500, "10s"),
    (17_500, "15s"),
    (25_000, "20s"),
    (45_000, "30s"),
    (90_000, "1m"),
    (180_000, "2m"),
    (450_000, "5m"),
    (750_000, "10m"),
    (1_050_000, "15m"),
    (1_500_000, "20m"),
    (2_700_000, "30m"),
    (5_400_000, "1h"),
    (9_000_000, "2h"),
    (16_200_000, "3h"),
    (24_300_000, "6h"),
    (64_800_000, "12h"),
    (604_800_000, "1d"),
)


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time picker: an absolute UTC range, ``name`` for failure messages."""

    start: datetime
    end: datetime
    name: str = ""


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    datasource: str
    text: str


@dataclass(frozen=True)
class Outcome:
    """One query run over one time range; ``empty`` lists the fields that had no value."""

    query: PanelQuery
    time_range: TimeRange
    expanded: str
    rows: int
    empty: tuple[str, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.rows > 0 and not self.empty

    def describe(self) -> str:
        problem = self.error or (
            "no rows" if not self.rows else f"fields without any value: {list(self.empty)}"
        )
        return (
            f"panel {self.query.panel!r} over {self.time_range.name or self.time_range}: "
            f"{problem}\n    {self.expanded}"
        )


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panel_queries(dashboard: dict[str, Any] | None = None) -> list[PanelQuery]:
    """Every target of every panel (rows excepted); a panel without a query is an error."""
    dashboard = dashboard or load_dashboard()
    found = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        if not panel.get("targets"):
            raise AssertionError(f"panel {panel['title']!r} has no query")
        for target in panel["targets"]:
            kind = target["datasource"]["type"]
            text = target["query"] if kind == INFLUXDB else target["rawSql"]
            found.append(PanelQuery(panel["title"], kind, text))
    return found


def datasource_references(dashboard: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The data source of every panel target and template variable."""
    dashboard = dashboard or load_dashboard()
    references = [
        target["datasource"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    return references + [v["datasource"] for v in dashboard["templating"]["list"]]


def default_range(dashboard: dict[str, Any], now: datetime) -> TimeRange:
    """The dashboard's own ``time`` (``now-24h`` .. ``now``) as an absolute range ending ``now``."""

    def instant(text: str) -> datetime:
        match = _RELATIVE.fullmatch(text)
        if match is None:
            raise AssertionError(f"unsupported relative time {text!r} in the dashboard")
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)}) if unit else now

    time = dashboard["time"]
    return TimeRange(instant(time["from"]), instant(time["to"]), f"{time['from']} .. {time['to']}")


def interval(time_range: TimeRange) -> str:
    """``$__interval``: the range over ``MAX_DATA_POINTS``, at least the data source's
    ``timeInterval``, rounded as Grafana rounds it."""
    span = max(time_range.end - time_range.start, MIN_INTERVAL * MAX_DATA_POINTS)
    ms = span.total_seconds() * 1000 / MAX_DATA_POINTS
    return next((text for below, text in _ROUNDED if ms < below), "1w")


def grafana_regex(value: str) -> str:
    """Grafana's regex escaping of a variable value (public/app/core/utils/kbn escapeRegex)."""
    return re.sub(r"[\\^$*+?.()|[\]{}/-]", lambda m: "\\" + m.group(0), value)


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def expand_influxql(query: str, time_range: TimeRange, devices: Sequence[str]) -> str:
    """Expand the macros Grafana's InfluxDB data source expands before sending InfluxQL.

    ``$timeFilter`` becomes the epoch-millisecond range Grafana sends, ``$__interval``
    the rounded interval for the range, and ``$device`` (multi-value, default "All") the
    regex alternation of every device, each escaped as Grafana escapes regex values.
    """
    start_ms = int(time_range.start.timestamp() * 1000)
    end_ms = int(time_range.end.timestamp() * 1000)
    escaped = [grafana_regex(d) for d in devices]
    device = escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    expanded = (
        query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
        .replace("$__interval", interval(time_range))
        .replace("$device", device)
    )
    if UNEXPANDED.search(expanded):
        raise AssertionError(f"a Grafana macro is left unexpanded: {expanded}")
    return expanded


def expand_sql(query: str, time_range: TimeRange, devices: Sequence[str]) -> str:
    """Expand the macros Grafana's PostgreSQL data source expands.

    ``$__timeFilter(col)`` becomes ``col BETWEEN 'from' AND 'to'`` (RFC 3339 UTC),
    ``$__timeFrom()``/``$__timeTo()`` those quoted instants, and ``$device`` (multi-value,
    default "All") the comma-separated SQL string literals of every device.
    """
    start, end = (
        f"'{t.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        for t in (time_range.start, time_range.end)
    )
    expanded = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN {start} AND {end}", query)
    expanded = (
        expanded.replace("$__timeFrom()", start)
        .replace("$__timeTo()", end)
        .replace("$device", ", ".join(sql_literal(d) for d in devices))
    )
    if UNEXPANDED.search(expanded):
        raise AssertionError(f"a Grafana macro is left unexpanded: {expanded}")
    return expanded


def influx_result(influx: InfluxServer, db: str, query: str) -> dict[str, Any]:
    """The first statement's result; ``{"error": ...}`` for an error influxd answers."""
    try:
        answer = json.loads(influx.query(query, db=db))
    except urllib.error.HTTPError as exc:
        return {"error": f"HTTP {exc.code}: {exc.read().decode('utf-8', 'replace')}"}
    return answer["results"][0]


def device_values(
    influx: InfluxServer, db: str, dashboard: dict[str, Any] | None = None
) -> list[str]:
    """What the ``device`` template variable lists, from its own query."""
    dashboard = dashboard or load_dashboard()
    (variable,) = dashboard["templating"]["list"]
    result = influx_result(influx, db, variable["query"])
    if "error" in result:
        raise AssertionError(f"the device variable's query failed: {result['error']}")
    return sorted(row[1] for series in result.get("series", []) for row in series["values"])


def _influx_outcome(
    query: PanelQuery, expanded: str, time_range: TimeRange, result: dict[str, Any]
) -> Outcome:
    if "error" in result:
        return Outcome(query, time_range, expanded, 0, (), str(result["error"]))
    series = result.get("series", [])
    rows = sum(len(s["values"]) for s in series)
    columns = series[0]["columns"][1:] if series else []
    empty = tuple(
        name
        for index, name in enumerate(columns, start=1)
        if all(row[index] is None for s in series for row in s["values"])
    )
    return Outcome(query, time_range, expanded, rows, empty)


def _sql_outcome(
    query: PanelQuery, expanded: str, time_range: TimeRange, connection: sa.Connection
) -> Outcome:
    try:
        result = connection.execute(sa.text(expanded))
    except sa.exc.DBAPIError as exc:
        connection.rollback()
        return Outcome(query, time_range, expanded, 0, (), str(exc.orig).strip())
    columns = list(result.keys())
    rows = result.all()
    connection.rollback()
    empty = tuple(
        name for index, name in enumerate(columns) if all(row[index] is None for row in rows)
    )
    return Outcome(query, time_range, expanded, len(rows), empty if rows else ())


def run_dashboard(
    *,
    influx: InfluxServer,
    influx_db: str,
    reader_url: str,
    ranges: dict[str, Sequence[TimeRange]],
    devices: Sequence[str],
    dashboard: dict[str, Any] | None = None,
) -> list[Outcome]:
    """Every panel query over each time range ``ranges`` gives its data source type."""
    queries = panel_queries(dashboard)
    kinds = {q.datasource for q in queries}
    if not kinds <= set(ranges):
        raise AssertionError(f"no time range given for data sources {kinds - set(ranges)}")
    outcomes = []
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as connection:
            for query in queries:
                for time_range in ranges[query.datasource]:
                    if query.datasource == INFLUXDB:
                        expanded = expand_influxql(query.text, time_range, devices)
                        result = influx_result(influx, influx_db, expanded)
                        outcomes.append(_influx_outcome(query, expanded, time_range, result))
                    else:
                        expanded = expand_sql(query.text, time_range, devices)
                        outcomes.append(_sql_outcome(query, expanded, time_range, connection))
    finally:
        engine.dispose()
    return outcomes


def failures(outcomes: Sequence[Outcome]) -> str:
    """Empty when every query returned rows with a value in every field; else the report."""
    bad = [o.describe() for o in outcomes if not o.ok]
    return "" if not bad else "dashboard queries without data:\n" + "\n".join(bad)


@dataclass(frozen=True)
class StackDatabases:
    """PostgreSQL as the compose stack's init script leaves it (URLs with passwords)."""

    warehouse_url: str
    dagster_url: str
    reader_url: str
    """The Grafana role: may read every warehouse table, write none."""

    def __repr__(self) -> str:
        urls = (self.warehouse_url, self.dagster_url, self.reader_url)
        return "StackDatabases({})".format(", ".join(str(sa.engine.make_url(u)) for u in urls))


@contextmanager
def stack_postgres() -> Iterator[StackDatabases]:
    """A fresh warehouse database initialised by ``deploy/postgres/init.sh`` (a Dagster
    database and Grafana's read-only login beside it); all three dropped afterwards."""
    warehouse_url = create_postgres_database()
    admin = sa.engine.make_url(POSTGRES_ADMIN_URL)
    suffix = uuid.uuid4().hex[:10]
    env = {
        **os.environ,
        "PGHOST": admin.host or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "POSTGRES_USER": admin.username or "postgres",
        "POSTGRES_DB": sa.engine.make_url(warehouse_url).database,
        "DAGSTER_POSTGRES_DB": f"goodwe_test_dagster_{suffix}",
        "GRAFANA_DB_USER": f"goodwe_test_grafana_{suffix}",
        "GRAFANA_DB_PASSWORD": uuid.uuid4().hex,
    }
    if admin.password:
        env["PGPASSWORD"] = admin.password
    warehouse = sa.engine.make_url(warehouse_url)
    reader = warehouse.set(username=env["GRAFANA_DB_USER"], password=env["GRAFANA_DB_PASSWORD"])
    dagster = warehouse.set(database=env["DAGSTER_POSTGRES_DB"])
    try:
        init = subprocess.run(
            ["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
        )
        if init.returncode != 0:
            raise AssertionError(f"deploy/postgres/init.sh failed: {init.stderr}")
        yield StackDatabases(
            warehouse_url,
            dagster.render_as_string(hide_password=False),
            reader.render_as_string(hide_password=False),
        )
    finally:
        drop_postgres_database(dagster.render_as_string(hide_password=False))
        drop_postgres_database(warehouse_url)
        engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'DROP ROLE IF EXISTS "{env["GRAFANA_DB_USER"]}"'))
        finally:
            engine.dispose()
