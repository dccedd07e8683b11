"""``goodwe-pipeline whatif`` as a separate process against real stores in a data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.reports.daily import daily_energy
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.test_whatif_costs import FIRST, LAST, TZ, prices, readings


def whatif(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "goodwe_pipeline.cli", "whatif", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def test_whatif_prints_the_table_and_writes_the_csv(tmp_path) -> None:
    data_dir = Path(os.environ["GOODWE_DATA_DIR"])
    frame = readings()
    ParquetRawStore(data_dir / "raw").write(frame)
    price_frame = prices()
    price_frame["source"] = "fixed:test"
    price_frame["partition_date"] = price_frame["time_start"].dt.tz_convert(TZ).dt.date
    with Warehouse.from_settings(WarehouseSettings(data_dir=data_dir)) as wh:
        wh.upsert("electricity_prices", price_frame)
    out = tmp_path / "whatif.csv"

    done = whatif(
        "--start", str(FIRST), "--end", str(LAST), "--offers", "G11,G12w", "--csv", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "offers: current, G11, G12w (current: current)" in done.stdout
    assert "Running HiGHS" not in done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert [cell.strip() for cell in lines[0].strip("|").split("|")][:3] == [
        "device",
        "offer",
        "days",
    ]
    assert "battery_value" in lines[0]
    assert sum("| G12w " in line for line in lines) == 1
    assert not any("('" in line for line in lines)

    rows = pd.read_csv(out)
    assert len(rows) == 2 * 3 * 3
    measured = rows[(rows["offer"] == "current") & (rows["scenario"] == "as_measured")]
    report = daily_energy(frame, price_frame, [FIRST, LAST], TZ).days
    assert measured["energy_cost_pln"].to_numpy() == pytest.approx(
        report["net_cost_pln"].to_numpy(), abs=0.01
    )


def test_whatif_refuses_an_unknown_offer_and_a_reversed_range() -> None:
    unknown = whatif("--start", str(FIRST), "--end", str(LAST), "--offers", "G14")
    assert unknown.returncode == 2
    assert "no offer 'G14'" in unknown.stderr
    reversed_range = whatif("--start", str(LAST), "--end", str(FIRST))
    assert reversed_range.returncode == 2 and "is before" in reversed_range.stderr
