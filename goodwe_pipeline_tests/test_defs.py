"""The code location loads and its asset graph has its public names (docs/architecture.md)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from goodwe_pipeline.common import settings
from goodwe_pipeline.definitions import defs
from goodwe_pipeline.defs.resources import raw_store_from_env, warehouse_from_env
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[1]


def _definitions() -> dg.Definitions:
    return defs()


def test_definitions_load_with_no_environment() -> None:
    definitions = _definitions()
    graph = definitions.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert "inverter_readings" in keys


def test_inverter_readings_is_an_external_partitioned_asset() -> None:
    graph = _definitions().resolve_asset_graph()
    node = graph.get(dg.AssetKey("inverter_readings"))
    assert not node.is_materializable
    assert node.partitions_def is not None
    assert node.group_name == "ingest"


def test_resources_fall_back_to_embedded_stores(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GOODWE_DATA_DIR", str(tmp_path))
    definitions = _definitions()
    raw_store = definitions.resources["raw_store"]
    warehouse = definitions.resources["warehouse"]
    assert raw_store.kind == "parquet"
    assert warehouse.kind == "sqlite"


def test_secrets_are_env_vars_not_values(monkeypatch) -> None:
    monkeypatch.setenv("GOODWE_INFLUX_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("GOODWE_INFLUX_PASSWORD", "s3cret-value")
    definitions = _definitions()
    raw_store = definitions.resources["raw_store"]
    assert isinstance(raw_store.influx_password, dg.EnvVar)
    assert "s3cret-value" not in repr(raw_store)


def test_resources_and_command_line_map_the_environment_alike(monkeypatch) -> None:
    assert set(settings.RAW_STORE_ENV) <= set(inspect.signature(open_raw_store).parameters)
    assert set(settings.WAREHOUSE_ENV) <= set(inspect.signature(Warehouse.from_settings).parameters)
    for mapping, resource_from_env, options in [
        (settings.RAW_STORE_ENV, raw_store_from_env, settings.raw_store_options),
        (settings.WAREHOUSE_ENV, warehouse_from_env, settings.warehouse_options),
    ]:
        for name, _ in mapping.values():
            monkeypatch.delenv(name, raising=False)
        unset = resource_from_env().process_config_and_initialize()
        assert {key: getattr(unset, key) for key in mapping} == options()
        for number, (name, _) in enumerate(mapping.values()):
            monkeypatch.setenv(name, f"value-{number}")
        set_ = resource_from_env().process_config_and_initialize()
        assert {key: getattr(set_, key) for key in mapping} == options()
        assert all(str(value).startswith("value-") for value in options().values())


def test_dagster_cli_validates_definitions() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-m",
            "goodwe_pipeline.definitions",
        ],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},  # no instance needed
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
