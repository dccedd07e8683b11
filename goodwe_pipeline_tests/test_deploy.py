"""The deployable stack: docker-compose.yml, the Dagster instance config, Grafana.

No Docker engine runs here, so the compose file is checked statically (files it
references exist, no credential is written into it), while everything the
stack's services would run against a database is run against the real local
PostgreSQL and a real ``influxd``: Dagster's instance from ``deploy/dagster.yaml``,
PostgreSQL's init script, and every query of the provisioned Grafana dashboard.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from goodwe_pipeline import readings
from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.defs.resources import raw_store_from_env
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.raw_store.influx_v2 import InfluxV2RawStore
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests import grafana_queries
from goodwe_pipeline_tests.grafana_queries import GRAFANA, StackDatabases, stack_postgres
from goodwe_pipeline_tests.servers import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"influxdb", "postgres", "user_code", "dagster_webserver", "dagster_daemon", "grafana"}
DAGSTER_SERVICES = ("user_code", "dagster_webserver", "dagster_daemon")
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"


def documented_settings() -> set[str]:
    """Every ``GOODWE_*`` variable the configuration page documents for owners."""
    return set(re.findall(r"`(GOODWE_[A-Z0-9_]+)`", CONFIGURATION_DOC.read_text()))


SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|API_?KEY", re.IGNORECASE)
REQUIRED_REFERENCE = re.compile(r"\$\{[A-Z0-9_]+:\?[^}]*\}")
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)")
GRAFANA_VARIABLE = re.compile(r"\$\{?([A-Z][A-Z0-9_]+)")
URL_CREDENTIALS = re.compile(r"://[^:/@\s]+:([^@\s]+)@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (key path, string value) in a parsed YAML/JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _env_example() -> dict[str, str]:
    """Variables documented in .env.example, set or commented out (``#NAME=value``)."""
    documented = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            documented[match.group(1)] = match.group(2) if not line.startswith("#") else ""
    return documented


def test_compose_has_the_stack_services(compose):
    services = compose["services"]
    assert SERVICES <= set(services)
    assert services["influxdb"]["image"].startswith("influxdb:2.7")
    influx_env = _environment(services["influxdb"])
    assert influx_env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for name in ("ORG", "BUCKET", "RETENTION", "USERNAME", "PASSWORD", "ADMIN_TOKEN"):
        assert REQUIRED_REFERENCE.fullmatch(influx_env[f"DOCKER_INFLUXDB_INIT_{name}"]), name

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    assert services["user_code"]["command"] == [
        "dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "goodwe_pipeline.definitions",
        "--location-name", "goodwe_pipeline",
    ]  # fmt: skip
    assert services["dagster_webserver"]["command"] == [
        "dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml",
    ]  # fmt: skip
    assert services["dagster_daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name in DAGSTER_SERVICES:
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"

    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    assert (server["host"], server["port"]) == ("user_code", 4000)
    assert server["location_name"] == "goodwe_pipeline"


def test_every_file_the_stack_references_exists(compose):
    missing = []
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = (
                "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            )
            missing += [f"{name}: {p}" for p in (context, context / dockerfile) if not p.exists()]
        env_files = service.get("env_file") or []
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            path = env_file if isinstance(env_file, str) else env_file["path"]
            if not (ROOT / path).exists():
                missing.append(f"{name}: env_file {path}")
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            # ./relative binds belong to the repo; ${...} ones are the user's own folders.
            if source.startswith(".") and not (ROOT / source).exists():
                missing.append(f"{name}: volume {source}")
    assert missing == []

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.MULTILINE), (
        "the image must not run as root"
    )
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".venv" in ignored

    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "goodwe.yaml").read_text()
    )
    grafana_mounts = dict(
        reversed(v.split(":")[:2]) for v in compose["services"]["grafana"]["volumes"]
    )
    for provider in providers["providers"]:
        host_dir = ROOT / grafana_mounts[provider["options"]["path"]]
        assert list(host_dir.glob("*.json")), f"no dashboard in {host_dir}"
    assert grafana_queries.DASHBOARD.is_file()


def test_no_literal_secret_in_the_deployment_files(compose):
    offenders = []
    for path, value in _strings(compose):
        key = path.rsplit(".", 1)[-1]
        if SECRET_NAME.search(key) and not REQUIRED_REFERENCE.fullmatch(value):
            offenders.append(f"{path}={value}")
        masked = REQUIRED_REFERENCE.sub("REF", value)
        for password in URL_CREDENTIALS.findall(masked):
            if password != "REF":
                offenders.append(f"{path}: URL password {password}")
    for path in (GRAFANA / "provisioning").rglob("*.yaml"):
        for key_path, value in _strings(yaml.safe_load(path.read_text())):
            key = key_path.rsplit(".", 1)[-1]
            if (SECRET_NAME.search(key) or "secureJsonData" in key_path or key == "user") and not (
                re.fullmatch(r"(Token )?\$[A-Z][A-Z0-9_]*", value)
            ):
                offenders.append(f"{path.name}{key_path}={value}")
    instance = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    password = instance["storage"]["postgres"]["postgres_db"]["password"]
    if password != {"env": "DAGSTER_POSTGRES_PASSWORD"}:
        offenders.append(f"deploy/dagster.yaml password={password}")
    for name, value in _env_example().items():
        if SECRET_NAME.search(name) and value:
            offenders.append(f".env.example {name} has a value")
    assert offenders == []


def test_env_example_documents_every_variable(compose):
    documented = set(_env_example())
    used = {name for _, value in _strings(compose) for name in COMPOSE_VARIABLE.findall(value)}
    assert used - documented == set(), "compose variables missing from .env.example"
    assert len(documented_settings()) >= 20, CONFIGURATION_DOC
    assert documented_settings() - documented == set(), (
        "documented settings missing from .env.example"
    )
    assert "POSTGRES_PASSWORD" in used and "INFLUXDB_ADMIN_TOKEN" in used


COMPOSE_OWN_SETTINGS = {
    "GOODWE_LEGACY_HOST_DIR": "the host folder compose mounts at /legacy",
    "GOODWE_INFLUX_USERNAME": "compose's InfluxDB 2.7 takes the token",
    "GOODWE_INFLUX_PASSWORD": "compose's InfluxDB 2.7 takes the token",
}


def test_the_stacks_pipeline_uses_the_v2_api(compose, monkeypatch, tmp_path):
    """The pipeline services get org, bucket and token from the values InfluxDB's setup uses."""
    influx_env = _environment(compose["services"]["influxdb"])
    for name in DAGSTER_SERVICES:
        env = _environment(compose["services"][name])
        assert env["GOODWE_INFLUX_ORG"] == influx_env["DOCKER_INFLUXDB_INIT_ORG"]
        assert env["GOODWE_INFLUX_BUCKET"] == influx_env["DOCKER_INFLUXDB_INIT_BUCKET"]
        assert env["GOODWE_INFLUX_TOKEN"] == influx_env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    env = _environment(compose["services"]["user_code"])
    values = {"INFLUXDB_ORG": "home", "INFLUXDB_BUCKET": "goodwe", "INFLUXDB_ADMIN_TOKEN": "t0k"}
    for name in (
        "GOODWE_INFLUX_URL",
        "GOODWE_INFLUX_ORG",
        "GOODWE_INFLUX_BUCKET",
        "GOODWE_INFLUX_TOKEN",
    ):
        value = env[name]
        for variable, given in values.items():
            value = re.sub(r"\$\{" + variable + r"(:[?-][^}]*)?\}", given, value)
        monkeypatch.setenv(name, value)
    store = raw_store_from_env().process_config_and_initialize().get_store()
    assert isinstance(store, InfluxV2RawStore)
    assert (store.url, store.org, store.bucket) == ("http://influxdb:8086", "home", "goodwe")


def test_every_pipeline_setting_in_env_example_reaches_the_code(compose):
    """A setting a user puts in `.env` is not silently dropped by compose."""
    settings = {name for name in _env_example() if name.startswith("GOODWE_")}
    given = set(_environment(compose["services"]["user_code"]))
    assert settings - set(COMPOSE_OWN_SETTINGS) - given == set()


def test_services_receive_every_variable_their_config_files_read(compose):
    services = compose["services"]
    grafana_env = _environment(services["grafana"])
    for path in (GRAFANA / "provisioning").rglob("*.yaml"):
        for _, value in _strings(yaml.safe_load(path.read_text())):
            for name in GRAFANA_VARIABLE.findall(value):
                assert name in grafana_env, f"{path.name} reads ${name}, not given to grafana"

    init_script = (ROOT / "deploy" / "postgres" / "init.sh").read_text()
    postgres_env = _environment(services["postgres"])
    for name in set(re.findall(r"\"\$([A-Z_]+)\"", init_script)):
        assert name in postgres_env, f"init.sh reads ${name}, not given to postgres"

    instance_env = {
        v["env"]
        for _, v in _walk_env(yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text()))
    }
    for name in DAGSTER_SERVICES:
        assert instance_env <= set(_environment(services[name])), name


def _walk_env(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        if set(node) == {"env"}:
            yield path, node
            return
        for key, value in node.items():
            yield from _walk_env(value, f"{path}.{key}")


def _postgres_env(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = sa.engine.make_url(url)
    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", parsed.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_POSTGRES_PORT", str(parsed.port or 5432))
    monkeypatch.setenv("DAGSTER_POSTGRES_USER", parsed.username or "postgres")
    monkeypatch.setenv("DAGSTER_POSTGRES_PASSWORD", parsed.password or "")
    monkeypatch.setenv("DAGSTER_POSTGRES_DB", parsed.database)


PROBE_DAYS = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-04")


@dg.asset(partitions_def=PROBE_DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def deploy_probe() -> None:
    """Three partitions in one run: three materializations, batched as the stack does."""


def test_the_stacks_dagster_instance_stores_runs_in_postgres(compose, tmp_path, monkeypatch):
    """The compose services' instance config and event batching, against the real PostgreSQL."""
    url = create_postgres_database()
    try:
        _postgres_env(url, monkeypatch)
        batch_size = _environment(compose["services"]["user_code"])["DAGSTER_EVENT_BATCH_SIZE"]
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", _compose_default(batch_size))
        shutil.copy(ROOT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
        instance = dg.DagsterInstance.from_config(str(tmp_path))
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            result = dg.materialize(
                [deploy_probe],
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": "2025-01-01",
                    "dagster/asset_partition_range_end": "2025-01-03",
                },
            )
            assert result.success
            run_id = result.run_id
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
            assert instance.get_materialized_partitions(deploy_probe.key) == {
                "2025-01-01",
                "2025-01-02",
                "2025-01-03",
            }
        finally:
            instance.dispose()

        engine = sa.create_engine(url)
        with engine.connect() as connection:
            runs = (
                connection.execute(
                    sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": run_id}
                )
                .scalars()
                .all()
            )
            events = connection.execute(
                sa.text(
                    "SELECT count(*) FROM event_logs WHERE run_id = :id "
                    "AND dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key LIKE '%deploy_probe%'"
                ),
                {"id": run_id},
            ).scalar_one()
        engine.dispose()
        assert runs == ["SUCCESS"] and events == 3
    finally:
        drop_postgres_database(url)


def _compose_default(value: str) -> str:
    """``1000`` from ``${NAME:-1000}``."""
    match = re.fullmatch(r"\$\{[A-Z_]+:-([^}]*)\}", value)
    assert match, value
    return match.group(1)


# --- Grafana ---------------------------------------------------------------------------

WINDOW_START = datetime(2025, 10, 6, 0, 0, tzinfo=UTC)
WINDOW_END = datetime(2025, 10, 6, 23, 59, 59, tzinfo=UTC)
DEVICES = ("9010KETU000001", "garage (ET) 2.0")


def _canonical_readings():
    rows = []
    for index, device in enumerate(DEVICES):
        for step in range(40):
            moment = datetime(2025, 10, 6, 9, 0, tzinfo=UTC) + timedelta(seconds=30 * step)
            rows.append(
                {
                    "time": moment,
                    "device_id": device,
                    "pv_power_w": 3000.0 + 10 * step,
                    "load_power_w": 800.0 + index * 100,
                    "grid_power_w": 1200.0 - index * 50,
                    "battery_power_w": -1000.0 + step,
                    "battery_soc_pct": 40.0 + step / 2,
                    "pv_energy_today_kwh": 5.0 + step * 0.025,
                }
            )
    return readings.from_records(rows)


def _warehouse_rows(warehouse: Warehouse) -> None:
    day = date(2025, 10, 6)
    prices = []
    for quarter in range(96):
        start = WINDOW_START + timedelta(minutes=15 * quarter)
        prices.append(
            {
                "time_start": start,
                "time_end": start + timedelta(minutes=15),
                "zone": "PL",
                "buy_pln_kwh": 0.6 + quarter / 1000,
                "sell_pln_kwh": 0.3,
                "source": "fixed",
                "partition_date": day,
            }
        )
    warehouse.upsert("electricity_prices", prices)
    energy = {
        "pv_kwh": 21.0,
        "load_kwh": 14.0,
        "grid_import_kwh": 3.0,
        "grid_export_kwh": 8.0,
        "battery_charge_kwh": 5.0,
        "battery_discharge_kwh": 4.5,
        "savings_pln": np.float64(9.25),
        "energy_source": "counters",
    }
    warehouse.upsert(
        "daily_energy",
        [
            {"day": d, "device_id": device, **energy}
            for device in DEVICES
            for d in (day, day - timedelta(days=1))
        ],
    )
    sessions = []
    for kind, hour in (("charge", 2), ("discharge", 18)):
        start = WINDOW_START + timedelta(hours=hour)
        sessions.append(
            {
                "session_id": f"{DEVICES[0]}-{kind}-{hour}",
                "device_id": DEVICES[0],
                "kind": kind,
                "start_time": start,
                "end_time": start + timedelta(hours=1, minutes=30),
                "duration_s": 5400.0,
                "soc_start": 20.0 if kind == "charge" else 90.0,
                "soc_end": 90.0 if kind == "charge" else 30.0,
                "energy_kwh": 7.0,
                "grid_energy_kwh": 7.0 if kind == "charge" else 0.0,
                "avg_price_pln_kwh": 0.45,
                "cost_pln": 3.15 if kind == "charge" else None,
                "value_pln": 5.6 if kind == "discharge" else None,
                "status": "completed",
                "partition_date": day,
            }
        )
    warehouse.upsert("battery_sessions", sessions)


@pytest.fixture
def grafana_warehouse() -> Iterator[StackDatabases]:
    """The warehouse as the stack builds it: deploy/postgres/init.sh on a fresh database."""
    with stack_postgres() as databases:
        yield databases


def test_dashboard_uses_only_the_provisioned_data_sources():
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "goodwe.yaml").read_text()
    )["datasources"]
    kinds = {source["uid"]: source["type"] for source in provisioned}
    references = grafana_queries.datasource_references()
    assert references and all(kinds.get(ref["uid"]) == ref["type"] for ref in references)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_every_dashboard_query_returns_rows(
    influx_server, influx_db, grafana_warehouse, tmp_path, request, api
):
    """Readings written through either API (v2: as the compose stack's pipeline writes them,
    through the 2.x stand-in) are what Grafana's InfluxQL queries read from the bucket."""
    if api == "v2":
        front = request.getfixturevalue("influx_v2_front")
        store = open_raw_store(RawStoreSettings(
            data_dir=tmp_path, influx_url=front.url, influx_org=front.org, influx_bucket=influx_db,
            influx_token=front.token(), influx_rp_duration="INF", create_database=True,
        ))  # fmt: skip
    else:
        store = open_raw_store(
            RawStoreSettings(
                data_dir=tmp_path,
                influx_url=influx_server.url,
                influx_db=influx_db,
                create_database=True,
            )
        )
    assert store.write(_canonical_readings()) == 40 * len(DEVICES)
    with Warehouse(grafana_warehouse.warehouse_url) as warehouse:
        _warehouse_rows(warehouse)

    devices = grafana_queries.device_values(influx_server, influx_db)
    assert devices == sorted(DEVICES)
    window = grafana_queries.TimeRange(WINDOW_START, WINDOW_END, "2025-10-06")
    outcomes = grafana_queries.run_dashboard(
        influx=influx_server,
        influx_db=influx_db,
        reader_url=grafana_warehouse.reader_url,
        ranges={grafana_queries.INFLUXDB: [window], grafana_queries.POSTGRES: [window]},
        devices=devices,
    )
    assert len(outcomes) == len(grafana_queries.panel_queries())
    report = grafana_queries.failures(outcomes)
    assert not report, report

    reader = sa.create_engine(grafana_warehouse.reader_url)
    try:
        with (
            reader.connect() as connection,
            pytest.raises(sa.exc.ProgrammingError, match="permission"),
        ):
            connection.execute(sa.text("DELETE FROM battery_sessions"))
    finally:
        reader.dispose()
