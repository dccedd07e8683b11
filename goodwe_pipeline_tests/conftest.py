"""Shared fixtures: a clean environment, real servers (influxd, PostgreSQL), the store pairs
every asset test runs on (embedded or real servers), and emulated inverters."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.emulator import Emulator, EmulatorConfig, Faults
from goodwe_pipeline_tests.influx_v2_front import InfluxV2Front
from goodwe_pipeline_tests.servers import (
    InfluxServer,
    create_postgres_database,
    drop_postgres_database,
)


def _pipeline_settings() -> list[str]:
    """The GOODWE_* variables the pipeline reads (not the tests' own)."""
    return [
        name
        for name in os.environ
        if name.startswith("GOODWE_")
        and not name.startswith("GOODWE_TEST_")
        and name != "GOODWE_SAMPLES_DIR"
    ]


# Some settings are read when the definitions are imported, before any fixture runs.
for _name in _pipeline_settings():
    del os.environ[_name]
# Partitions are defined at import: the tests' days (2024 onwards) need a fixed first day,
# not the first day of whatever data the machine has (``goodwe_pipeline.history.first_day``).
os.environ["GOODWE_HISTORY_START"] = "2024-01-01"


@pytest.fixture(autouse=True)
def _clean_goodwe_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Tests start with no pipeline configuration and a private data dir."""
    for name in _pipeline_settings():
        monkeypatch.delenv(name)
    monkeypatch.setenv("GOODWE_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path_factory.mktemp("influxd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_influx_server(tmp_path) -> Iterator[InfluxServer]:
    """An ``influxd`` of the test's own, for tests that stop and restart it."""
    server = InfluxServer(tmp_path / "influxd")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influx_v2_front(influx_server: InfluxServer) -> Iterator[InfluxV2Front]:
    """The stand-in for an InfluxDB 2.x server (``influx_v2_front``), over the session's influxd."""
    front = InfluxV2Front(influx_server).start()
    yield front
    front.stop()


@pytest.fixture
def influx_db(influx_server: InfluxServer) -> str:
    """A database name unique to the test (created by the store or the test)."""
    return f"goodwe_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def private_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own, for tests whose rows must not meet others'."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@dataclass(frozen=True)
class StorePair:
    """A raw store and a warehouse of one kind, over the test's data dir."""

    raw_store: RawStoreResource
    warehouse: WarehouseResource
    data_dir: Path


@pytest.fixture(params=["parquet+sqlite", "influxdb+postgres"])
def stores(request) -> StorePair:
    """The embedded stores (Parquet files, SQLite) or the real servers (influxd, PostgreSQL):
    a test taking ``stores`` runs on both."""
    data_dir = Path(os.environ["GOODWE_DATA_DIR"])
    if request.param == "parquet+sqlite":
        return StorePair(
            RawStoreResource(data_dir=str(data_dir)),
            WarehouseResource(data_dir=str(data_dir)),
            data_dir,
        )
    raw_store = RawStoreResource(
        data_dir=str(data_dir),
        influx_url=request.getfixturevalue("influx_server").url,
        influx_db=request.getfixturevalue("influx_db"),
    )
    return StorePair(
        raw_store, WarehouseResource(url=request.getfixturevalue("postgres_url")), data_dir
    )


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(request) -> str:
    """The warehouse alone, embedded or on a server: the SQLite file the embedded default uses
    (under ``GOODWE_DATA_DIR``), or a PostgreSQL database of the test's own (empty: no other
    test's rows, no schema yet)."""
    if request.param == "postgres":
        return request.getfixturevalue("private_postgres_url")
    return f"sqlite:///{WarehouseSettings(data_dir=os.environ['GOODWE_DATA_DIR']).sqlite_path}"


@pytest.fixture
def tcp() -> Callable[..., Emulator]:
    """Makes an emulated inverter answering on a free TCP port only: ``tcp(serial, silent=True)``
    (keyword arguments are its ``Faults``); start it with ``EmulatorThread``."""

    def emulator(serial: str, **faults) -> Emulator:
        config = EmulatorConfig(udp_port=None, tcp_port=0, serial=serial)
        return Emulator(config, faults=Faults(**faults))

    return emulator


SERVER_FIXTURES = frozenset(
    {"influx_server", "private_influx_server", "postgres_url", "private_postgres_url"}
)
SERVER_PARAMS = ("influx", "postgres")
"""Fixtures parametrised over stores name the server in their parameter (``influxdb+postgres``)."""


def _needs_servers(item: pytest.Item) -> bool:
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(
        isinstance(value, str) and any(server in value for server in SERVER_PARAMS)
        for value in params.values()
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a server, so ``pytest -m "not servers"`` runs the rest alone."""
    for item in items:
        if _needs_servers(item):
            item.add_marker(pytest.mark.servers)
