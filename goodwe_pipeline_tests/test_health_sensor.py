"""The ``storage_health`` sensor (``defs/health/sensors.py``), ticked by Dagster against real
stores: what it records in the warehouse and shows in the UI when a store is down."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.definitions import defs as load_defs
from goodwe_pipeline.defs.health.sensors import storage_health
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.synthetic_days import constant, make_readings

TZ = "Europe/Warsaw"
LAST = date(2025, 6, 10)


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["GOODWE_DATA_DIR"])


def stored_health(data_dir: Path) -> pd.DataFrame:
    """The ``storage_health`` rows of the embedded warehouse, oldest first."""
    with Warehouse.from_settings(WarehouseSettings(data_dir=data_dir)) as warehouse:
        return warehouse.read_frame('SELECT * FROM "storage_health" ORDER BY "id"')


def test_storage_health_sensor_writes_rows(data_dir) -> None:
    ParquetRawStore(data_dir / "raw").write(
        make_readings(LAST, LAST, TZ, load=constant(300), cadence_s=600)
    )
    good = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "raw_store": RawStoreResource(data_dir=str(data_dir)),
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
        },
    )
    result = storage_health.evaluate_tick(good)
    rows = stored_health(data_dir)
    assert list(rows["component"]) == ["parquet", "warehouse", "spool", "disk", "readings"]
    by_component = rows.set_index("component")
    assert bool(by_component.loc["warehouse", "ok"]) and bool(by_component.loc["parquet", "ok"])
    assert int(by_component.loc["disk", "detail"]) > 0
    assert bool(by_component.loc["readings", "ok"])  # no inverters configured: old data is fine
    events = result.asset_events
    assert events[0].asset_key == dg.AssetKey("storage_health")
    assert "components" in events[0].metadata

    dead = RawStoreResource(data_dir=str(data_dir), influx_url="http://127.0.0.1:9", influx_db="x")
    bad = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"raw_store": dead, "warehouse": WarehouseResource(data_dir=str(data_dir))},
    )
    result = storage_health.evaluate_tick(bad)
    latest = stored_health(data_dir).tail(5)
    influx = latest[latest["component"] == "influxdb"].iloc[0]
    assert not bool(influx["ok"])
    check = result.asset_events[1]
    assert isinstance(check, dg.AssetCheckEvaluation) and not check.passed


def sensor_tick(resources: dict):
    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=resources)
    return storage_health.evaluate_tick(context)


def test_storage_health_sensor_reports_a_raw_store_it_cannot_open(data_dir, monkeypatch) -> None:
    monkeypatch.setenv("GOODWE_INFLUX_URL", "influx.local:8086")
    resources = load_defs().resources
    result = sensor_tick({"raw_store": resources["raw_store"], "warehouse": resources["warehouse"]})

    observation, check = result.asset_events
    assert not check.passed and "influxdb" in check.metadata["failing"].text
    assert observation.metadata["influxdb_ok"].value is False
    assert "cannot be opened: ValueError" in observation.metadata["influxdb"].text
    assert observation.metadata["recorded"].value is True
    rows = stored_health(data_dir).set_index("component")
    assert list(rows.index) == ["influxdb", "warehouse", "spool", "disk", "readings"]
    assert not bool(rows.loc["influxdb", "ok"]) and bool(rows.loc["warehouse", "ok"])
    assert not bool(rows.loc["readings", "ok"]) and "unknown" in rows.loc["readings", "detail"]


@pytest.mark.parametrize(
    "url",
    ["postgresql://goodwe:s3cret-pw@127.0.0.1:9/goodwe", "postgresql://goodwe:s3cret-pw@h:port/x"],
    ids=["unreachable", "malformed"],
)
def test_storage_health_sensor_reports_a_broken_warehouse_in_the_ui(data_dir, url) -> None:
    result = sensor_tick(
        {
            "raw_store": RawStoreResource(data_dir=str(data_dir)),
            "warehouse": WarehouseResource(data_dir=str(data_dir), url=url),
        }
    )

    observation, check = result.asset_events
    assert not check.passed and check.metadata["failing"].text == "warehouse"
    assert observation.metadata["parquet_ok"].value is True
    assert observation.metadata["warehouse_ok"].value is False
    assert observation.metadata["recorded"].value is False
    assert "not_recorded" in observation.metadata
    shown = " ".join(str(v.value) for v in observation.metadata.values())
    assert "s3cret-pw" not in shown
