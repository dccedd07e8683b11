"""End to end through the Dagster webserver, against the server stores.

The demo's pieces on free ports (two emulated inverters, ``dagster dev`` with
webserver and daemon) write to the test's own ``influxd`` and to PostgreSQL (a
fresh warehouse database, and a dagster-postgres instance in another one).
Everything is then driven and observed only through the webserver's GraphQL
API: live readings from the sensor, a 30-day partition backfill of every daily
asset, the checks' outcomes. Row counts are then read directly from InfluxDB
and PostgreSQL and compared with what the sample history holds, and every query
of the provisioned Grafana dashboard is run on that data (SQL as Grafana's
read-only role): each must return rows.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient

from goodwe_pipeline.common import days
from goodwe_pipeline.demo.history import Manifest, write_demo_history
from goodwe_pipeline.demo.inverters import DemoInverters, start_demo_inverters
from goodwe_pipeline.demo.processes import (
    DagsterDev,
    DagsterDevError,
    pipeline_environment,
    write_instance_config,
    write_workspace,
)
from goodwe_pipeline.emulator import free_loopback_udp_host
from goodwe_pipeline.history.formats import READING_FORMATS
from goodwe_pipeline.prices.quarter_hours import quarter_hours
from goodwe_pipeline.readings import MEASUREMENT
from goodwe_pipeline_tests import grafana_queries
from goodwe_pipeline_tests.grafana_queries import StackDatabases, TimeRange, stack_postgres
from goodwe_pipeline_tests.servers import InfluxServer, free_port

pytestmark = pytest.mark.slow

TZ = "Europe/Warsaw"
END = date(2025, 10, 31)
"""30 days ending here: they hold the autumn DST day (26 October, 25 hours)."""
READY_TIMEOUT_S = 240
LIVE_TIMEOUT_S = 240
BACKFILL_TIMEOUT_S = 900
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
EXPECTED_WARNINGS = {("daily_energy_report", "counters_agree_with_integration")}
"""The history has a day with the Wi-Fi dongle offline for 45 minutes: the inverter's PV
counter saw energy that no reading did, and this check says so (WARN)."""


@pytest.fixture
def stack_databases() -> Iterator[StackDatabases]:
    """PostgreSQL as the compose stack initialises it: the warehouse, the Dagster instance's
    storage beside it, and Grafana's read-only login."""
    with stack_postgres() as databases:
        yield databases


def _postgres_storage(url: str) -> dict[str, Any]:
    parsed = sa.engine.make_url(url)
    db: dict[str, Any] = {
        "scheme": "postgresql+psycopg2",
        "hostname": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "username": parsed.username or "postgres",
        "db_name": parsed.database,
    }
    if parsed.password:
        db["password"] = parsed.password
    return {"postgres": {"postgres_db": db}}


class Waiter:
    """Bounded polling with failure messages holding the last answer and dagster dev's log."""

    def __init__(self, dev: DagsterDev):
        self.dev = dev

    def until(self, what: str, timeout: float, probe: Callable[[], tuple[bool, Any]]) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            if not self.dev.running():
                raise self.dev.failure(f"dagster dev died while waiting for {what}; last: {last}")
            try:
                done, last = probe()
            except DagsterDevError as exc:
                done, last = False, str(exc)
            if done:
                return last
            if time.monotonic() > deadline:
                answer = json.dumps(last, default=str)[:3000]
                raise self.dev.failure(
                    f"timed out after {timeout:.0f} s waiting for {what}; last answer: {answer}"
                )
            time.sleep(1.0)


# dagster_graphql's client calls gql with arguments gql 3.5 deprecates; the warning is gql's.
@pytest.mark.filterwarnings(
    "ignore:Using variable_values and operation_name arguments:DeprecationWarning"
)
def test_live_readings_and_30_day_backfill_through_the_webserver(
    tmp_path: Path, influx_server: InfluxServer, influx_db: str, stack_databases: StackDatabases
) -> None:
    started = time.monotonic()
    warehouse_url = stack_databases.warehouse_url
    manifest = write_demo_history(tmp_path / "demo", end=END, days_count=30, tz=TZ)
    inverters = start_demo_inverters(
        udp_host=free_loopback_udp_host(),
        serial=manifest.device_id,
        model=manifest.model,
        lifetime_kwh=manifest.lifetime_kwh_end,
        soc_pct=manifest.soc_end_pct,
        timezone=TZ,
    )
    home = tmp_path / "dagster_home"
    write_instance_config(home, storage=_postgres_storage(stack_databases.dagster_url))
    env = pipeline_environment(
        os.environ,
        dagster_home=home,
        data_dir=tmp_path / "data",
        inverters=inverters.spec,
        legacy_dir=manifest.legacy_dir,
        price_csv=manifest.price_csv,
        timezone=TZ,
        extra={
            "GOODWE_INFLUX_URL": influx_server.url,
            "GOODWE_INFLUX_DB": influx_db,
            "GOODWE_WAREHOUSE_URL": warehouse_url,
        },
    )
    dev = DagsterDev(
        port=free_port(),
        env=env,
        workspace=write_workspace(home),
        log_path=tmp_path / "dagster_dev.log",
    )
    try:
        dev.start()
        dev.wait_ready(timeout=READY_TIMEOUT_S)
        wait = Waiter(dev)
        _live_readings(dev, wait)
        backfill = _backfill(dev, wait, manifest)
        _checks_outcomes(dev, backfill)
    finally:
        try:
            dev.stop()
            assert dev.members() == [], "a dagster dev process outlived SIGINT/SIGKILL"
        finally:
            inverters.stop()
    _influx_counts(influx_server, influx_db, manifest)
    _postgres_counts(warehouse_url, manifest)
    _dashboard_queries(influx_server, influx_db, stack_databases.reader_url, manifest, inverters)
    print(f"e2e took {time.monotonic() - started:.0f} s; backfill: {backfill}")


def _live_readings(dev: DagsterDev, wait: Waiter) -> None:
    """The poll_inverters sensor ticks and records inverter_readings for today."""

    def probe() -> tuple[bool, Any]:
        event = dev.latest_materialization(MEASUREMENT)
        return event is not None, event

    event = wait.until("the first inverter_readings materialization", LIVE_TIMEOUT_S, probe)
    at = datetime.fromtimestamp(int(event["timestamp"]) / 1000, UTC)
    # the reading's day; the event is recorded a moment later, perhaps after midnight
    read_days = {days.local_date(at - timedelta(minutes=m), TZ).isoformat() for m in (0, 2)}
    assert event["partition"] in read_days, event
    assert event["runId"] == "", "run-less: recorded by the sensor, not by a run"
    ticks = dev.graphql(SENSOR_TICKS, {"selector": _sensor_selector("poll_inverters")})
    sensor = ticks["sensorOrError"]
    assert sensor["sensorState"]["status"] == "RUNNING", sensor
    statuses = {tick["status"] for tick in sensor["sensorState"]["ticks"]}
    assert "FAILURE" not in statuses, sensor


def _daily_assets(dev: DagsterDev) -> list[list[str]]:
    nodes = dev.graphql(ASSET_NODES)["assetNodes"]
    keys = [
        node["assetKey"]["path"]
        for node in nodes
        if node["isPartitioned"] and node["isMaterializable"] and node["isExecutable"]
    ]
    names = {key[-1] for key in keys}
    assert {
        "legacy_readings",
        "legacy_decisions",
        "electricity_prices",
        "battery_sessions",
        "daily_energy_report",
        "raw_archive",
    } <= names, names
    assert MEASUREMENT not in names
    return keys


def _backfill(dev: DagsterDev, wait: Waiter, manifest: Manifest) -> dict[str, Any]:
    """One backfill of every daily asset over the 30 days, as "Materialize all" with a range
    launches it: every daily asset shares one partitions definition and
    BackfillPolicy.single_run, so the whole backfill is one run."""
    keys = _daily_assets(dev)
    partitions = [
        d.isoformat()
        for d in days.iter_days(
            days.parse_day(manifest.first_day), days.parse_day(manifest.last_day)
        )
    ]
    backfill_id = dev.launch_backfill(
        {
            "assetSelection": [{"path": key} for key in keys],
            "partitionNames": partitions,
            "title": "demo history migration",
        }
    )

    def probe() -> tuple[bool, Any]:
        answer = dev.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        return answer.get("status") in TERMINAL, answer

    t0 = time.monotonic()
    result = wait.until(f"backfill {backfill_id}", BACKFILL_TIMEOUT_S, probe)
    seconds = time.monotonic() - t0
    assert result["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), json.dumps(result)[:3000]
    runs = result["runs"]
    assert runs and all(run["status"] == "SUCCESS" for run in runs), runs
    client = DagsterGraphQLClient(dev.host, port_number=dev.port)
    for run in runs:
        assert client.get_run_status(run["runId"]) == DagsterRunStatus.SUCCESS
    assert len(runs) == 1, f"one backfill of every daily asset should be one run: {runs}"
    assert {k["path"][-1] for k in runs[0]["assetSelection"]} == {k[-1] for k in keys}, runs
    for status in result["assetBackfillData"]["assetBackfillStatuses"]:
        assert status["numPartitionsMaterialized"] == status["numPartitionsTargeted"] == 30, status
    return {
        "id": backfill_id,
        "seconds": round(seconds),
        "runs": [r["runId"] for r in runs],
        "run_seconds": [round((r["endTime"] or 0) - (r["startTime"] or 0)) for r in runs],
        "run_assets": [sorted(k["path"][-1] for k in r["assetSelection"] or []) for r in runs],
    }


def _checks_outcomes(dev: DagsterDev, backfill: dict[str, Any]) -> None:
    """Every check of the backfilled assets ran in its runs; none failed but the expected WARN."""
    nodes = dev.graphql(ASSET_CHECKS)["assetNodes"]
    outcomes: dict[tuple[str, str], dict[str, Any]] = {}
    for node in nodes:
        checks = (node.get("assetChecksOrError") or {}).get("checks") or []
        asset = node["assetKey"]["path"][-1]
        for check in checks:
            executions = dev.graphql(
                CHECK_EXECUTIONS,
                {"key": {"path": node["assetKey"]["path"]}, "check": check["name"]},
            )["assetCheckExecutions"]
            mine = [e for e in executions if e["runId"] in backfill["runs"]]
            if mine:
                outcomes[(asset, check["name"])] = mine[0]
    expected = {
        ("legacy_readings", "legacy_readings_match_sources"),
        ("electricity_prices", "every_quarter_hour_priced"),
        ("battery_sessions", "sessions_do_not_overlap"),
        ("daily_energy_report", "energy_balance_within_10_pct"),
    }
    assert expected <= set(outcomes), sorted(outcomes)
    failed = {
        key: (e["status"], (e.get("evaluation") or {}).get("severity"))
        for key, e in outcomes.items()
        if e["status"] != "SUCCEEDED"
    }
    for key, (status, severity) in failed.items():
        assert key in EXPECTED_WARNINGS and status == "FAILED" and severity == "WARN", failed


def _influx_counts(influx: InfluxServer, db: str, manifest: Manifest) -> None:
    """Every legacy reading landed in InfluxDB once, per local day."""
    for text, expected in manifest.readings_per_day.items():
        start, end = days.day_window(days.parse_day(text), TZ)
        answer = json.loads(
            influx.query(
                f'SELECT count("battery_soc_pct") FROM "{MEASUREMENT}" '  # noqa: S608 - quoted constants
                f"WHERE \"source\" = 'legacy' AND time >= {_ns(start)} AND time < {_ns(end)}",
                db=db,
            )
        )
        series = answer["results"][0].get("series") or [{"values": [[None, 0]]}]
        assert series[0]["values"][0][1] == expected, (text, answer)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def _postgres_counts(url: str, manifest: Manifest) -> None:
    first, last = manifest.first_day, manifest.last_day
    quarters = sum(len(quarter_hours(days.parse_day(d), TZ)) for d in manifest.readings_per_day)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:

            def scalar(sql: str, **params: Any) -> Any:
                return conn.execute(sa.text(sql), {"first": first, "last": last, **params}).scalar()

            assert (
                scalar(
                    "SELECT count(*) FROM electricity_prices WHERE partition_date BETWEEN :first AND :last"
                )
                == quarters
            )
            assert scalar("SELECT count(*) FROM legacy_decisions") == manifest.expected_decisions
            assert (
                scalar("SELECT count(*) FROM legacy_planned_sessions") == manifest.planned_sessions
            )
            assert (
                scalar("SELECT count(*) FROM legacy_selling_sessions") == manifest.selling_sessions
            )
            assert (
                scalar(
                    "SELECT count(*) FROM daily_energy WHERE day BETWEEN :first AND :last AND device_id = :device",
                    device=manifest.device_id,
                )
                == 30
            )
            assert (
                scalar(
                    "SELECT count(*) FROM analytics_reports WHERE report_type = 'daily' "
                    "AND report_date BETWEEN :first AND :last"
                )
                == 30
            )
            sessions = conn.execute(
                sa.text(
                    "SELECT partition_date, kind, count(*) FROM battery_sessions "
                    "WHERE partition_date BETWEEN :first AND :last GROUP BY partition_date, kind"
                ),
                {"first": first, "last": last},
            ).all()
            found = {(str(day), kind) for day, kind, _ in sessions}
            for day, stats in manifest.daily_stats.items():
                battery = stats["battery"]
                if battery["total_charge_kwh"] >= 1.0:
                    assert (day, "charge") in found, (day, battery)
                if battery["total_discharge_kwh"] >= 1.0:
                    assert (day, "discharge") in found, (day, battery)
            rejected = conn.execute(
                sa.text("SELECT path, format FROM migration_files WHERE outcome = 'rejected'")
            ).all()
            reading_formats = {str(f) for f in READING_FORMATS}
            assert sorted(p for p, f in rejected if f in reading_formats) == sorted(
                b["path"] for b in manifest.broken_files
            )
            trends = scalar("SELECT count(*) FROM analytics_reports WHERE report_type <> 'daily'")
            assert trends > 0
    finally:
        engine.dispose()


def _dashboard_queries(
    influx: InfluxServer, db: str, reader_url: str, manifest: Manifest, inverters: DemoInverters
) -> None:
    """Every dashboard query, as Grafana sends it, returns rows from what the pipeline wrote:
    InfluxDB panels over the dashboard's default range (the sensor's live readings) and over
    the backfilled days (the migrated history), warehouse panels over the backfilled days."""
    dashboard = grafana_queries.load_dashboard()
    devices = grafana_queries.device_values(influx, db, dashboard)
    assert devices == sorted(e.config.serial for e in inverters.emulators), devices
    first, last = (days.parse_day(d) for d in (manifest.first_day, manifest.last_day))
    backfilled = TimeRange(
        *days.range_window(first, last, TZ), f"the backfilled days {first}..{last}"
    )
    live = grafana_queries.default_range(dashboard, datetime.now(UTC))
    outcomes = grafana_queries.run_dashboard(
        influx=influx,
        influx_db=db,
        reader_url=reader_url,
        ranges={
            grafana_queries.INFLUXDB: [live, backfilled],
            grafana_queries.POSTGRES: [backfilled],
        },
        devices=devices,
        dashboard=dashboard,
    )
    panels = {o.query.panel for o in outcomes}
    assert panels == {q.panel for q in grafana_queries.panel_queries(dashboard)}
    report = grafana_queries.failures(outcomes)
    assert not report, report


def _sensor_selector(name: str) -> dict[str, str]:
    return {
        "repositoryLocationName": "goodwe_pipeline",
        "repositoryName": "__repository__",
        "sensorName": name,
    }


ASSET_NODES = """
query { assetNodes { assetKey { path } isPartitioned isMaterializable isExecutable groupName } }
"""

ASSET_CHECKS = """
query {
  assetNodes {
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
  }
}
"""

CHECK_EXECUTIONS = """
query Executions($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 20) {
    runId status evaluation { success severity }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      numPartitions
      error { message }
      runs(limit: 50) { runId status startTime endTime assetSelection { path } }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted
            numPartitionsInProgress
            numPartitionsMaterialized
            numPartitionsFailed
          }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

SENSOR_TICKS = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 20) { status skipReason } } }
    ... on PythonError { message }
  }
}
"""
