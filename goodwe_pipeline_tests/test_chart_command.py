"""``goodwe-pipeline chart`` as a subprocess: the pictures the UI shows, from the stores the
environment names, after the demo's days were backfilled."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator

import dagster as dg
import pytest

from goodwe_pipeline.charts.render import MAX_CHART_BYTES
from goodwe_pipeline_tests.ui_days import TZ, UiDays, backfill_demo_days

DAY = "2025-10-26"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory) -> Iterator[tuple[UiDays, dict[str, str]]]:
    root = tmp_path_factory.mktemp("chart")
    with dg.instance_for_test(temp_dir=str(root)) as instance:
        ui_days = backfill_demo_days(root, instance)
        charts = {}
        for asset in ("daily_energy_report", "battery_sessions", "electricity_prices"):
            records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
            (latest,) = [
                r
                for r in records
                if r.partition_key == DAY and "chart" in r.asset_materialization.metadata
            ]
            charts[asset] = latest.asset_materialization.metadata["chart"].value
    yield ui_days, charts


def chart(ui_days: UiDays, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODWE_")}
    env.update({"GOODWE_DATA_DIR": str(ui_days.data_dir), "GOODWE_TIMEZONE": TZ})
    return subprocess.run(
        [sys.executable, "-m", "goodwe_pipeline.cli", "chart", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def embedded_png(markdown: str) -> bytes:
    return base64.b64decode(markdown.split("base64,", 1)[1].rstrip(")"))


@pytest.mark.parametrize(
    ("kind", "asset"),
    [
        ("day", "daily_energy_report"),
        ("sessions", "battery_sessions"),
        ("prices", "electricity_prices"),
    ],
)
def test_a_days_chart_is_the_picture_the_ui_shows(backfilled, tmp_path, kind, asset) -> None:
    ui_days, charts = backfilled
    out = tmp_path / f"{kind}.png"
    done = chart(ui_days, "--day", DAY, "--kind", kind, "--out", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) <= MAX_CHART_BYTES
    assert f"{out} ({len(data)} bytes)" in done.stdout
    assert data == embedded_png(charts[asset])


def test_a_months_chart_and_the_default_file_name(backfilled, tmp_path) -> None:
    ui_days, _ = backfilled
    env_cwd = tmp_path
    done = subprocess.run(
        [sys.executable, "-m", "goodwe_pipeline.cli", "chart", "--month", "2025-10"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("GOODWE_")},
            "GOODWE_DATA_DIR": str(ui_days.data_dir),
            "GOODWE_TIMEZONE": TZ,
        },
        cwd=env_cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = (env_cwd / "chart-2025-10.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) <= MAX_CHART_BYTES


def test_days_without_data_and_bad_input_are_refused_clearly(backfilled, tmp_path) -> None:
    ui_days, _ = backfilled
    done = chart(ui_days, "--day", "2025-01-01", "--out", str(tmp_path / "x.png"))
    assert done.returncode == 1
    assert "no readings for 2025-01-01" in done.stderr
    assert not (tmp_path / "x.png").exists()
    done = chart(ui_days, "--month", "2025/10")
    assert done.returncode == 2 and "not a month like 2025-06" in done.stderr
    done = chart(ui_days, "--day", DAY, "--month", "2025-10")
    assert done.returncode == 2 and "not allowed with" in done.stderr
