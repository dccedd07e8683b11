"""The code location loads and its asset graph has the names DESIGN.md promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from goodwe_pipeline.definitions import defs

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
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
