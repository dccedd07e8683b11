"""The code location loads and its asset graph has its public names (docs/architecture.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import dagster as dg

from goodwe_pipeline.common import settings
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.definitions import defs
from goodwe_pipeline.defs.resources import (
    RawStoreResource,
    WarehouseResource,
    raw_store_from_env,
    warehouse_from_env,
)

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
    raw_store = definitions.resources["raw_store"].process_config_and_initialize()
    warehouse = definitions.resources["warehouse"].process_config_and_initialize()
    assert raw_store.settings().kind == "parquet"
    assert warehouse.settings().kind == "sqlite"


def test_secrets_are_env_vars_not_values(monkeypatch) -> None:
    monkeypatch.setenv("GOODWE_INFLUX_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("GOODWE_INFLUX_PASSWORD", "s3cret-value")
    definitions = _definitions()
    raw_store = definitions.resources["raw_store"]
    assert isinstance(raw_store.influx_password, dg.EnvVar)
    assert "s3cret-value" not in repr(raw_store)


def test_resources_and_command_line_build_the_same_settings(monkeypatch) -> None:
    """A resource's fields are its store's settings fields, with the same defaults (but
    ``create_database``: the resource writes), and the environment gives both the same values."""
    for settings_class in (RawStoreSettings, WarehouseSettings):
        for name in settings.variables(settings_class).values():
            monkeypatch.delenv(name, raising=False)
    assert RawStoreResource().settings() == RawStoreSettings(create_database=True)
    assert WarehouseResource().settings() == WarehouseSettings()
    for settings_class, resource_class, resource_from_env in [
        (RawStoreSettings, RawStoreResource, raw_store_from_env),
        (WarehouseSettings, WarehouseResource, warehouse_from_env),
    ]:
        assert [f.name for f in fields(settings_class)] == list(resource_class.model_fields)
        variables = settings.variables(settings_class)
        for name in variables.values():
            monkeypatch.delenv(name, raising=False)
        unset = resource_from_env().process_config_and_initialize().settings()
        from_env = settings_class.from_env()
        assert {key: getattr(unset, key) for key in variables} == {
            key: getattr(from_env, key) for key in variables
        }
        for number, name in enumerate(variables.values()):
            monkeypatch.setenv(name, f"value-{number}")
        set_ = resource_from_env().process_config_and_initialize().settings()
        from_env = settings_class.from_env()
        values = {key: getattr(from_env, key) for key in variables}
        assert {key: getattr(set_, key) for key in variables} == values
        assert all(str(value).startswith("value-") for value in values.values())


def test_a_store_field_left_at_its_default_takes_the_environments_value(
    monkeypatch, tmp_path
) -> None:
    """What a launch's config leaves out reaches the resource as the class default (Dagster's
    rule); the environment's value must win over it, an explicit value over both."""
    monkeypatch.setenv("GOODWE_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("GOODWE_INFLUX_URL", "http://influx.example:8086")
    launched = RawStoreResource(timeout_s=5.0).settings()
    assert (launched.data_dir, launched.influx_url, launched.timeout_s) == (
        tmp_path / "env",
        "http://influx.example:8086",
        5.0,
    )
    assert RawStoreResource(data_dir=str(tmp_path / "given")).settings().data_dir == (
        tmp_path / "given"
    )
    assert WarehouseResource().settings().data_dir == tmp_path / "env"


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
