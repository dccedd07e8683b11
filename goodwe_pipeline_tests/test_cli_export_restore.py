"""``goodwe-pipeline export`` and ``restore`` against real stores."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from goodwe_pipeline.archive.daily_files import Archive, archive_root
from goodwe_pipeline.cli import main
from goodwe_pipeline.common import days
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.raw_store.influx import InfluxRawStore
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.reports.daily import DAILY_ENERGY_COLUMNS, daily_energy
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.synthetic_days import constant, make_readings, sine_pv

TZ = "Europe/Warsaw"
FIRST = date(2025, 6, 9)
LAST = date(2025, 6, 11)


def data_dir() -> Path:
    return Path(os.environ["GOODWE_DATA_DIR"])


def _fill_warehouse() -> None:
    readings = make_readings(
        FIRST, LAST, TZ, cadence_s=60, device_id="SN1", pv=sine_pv(3000), load=constant(400)
    )
    report = daily_energy(readings, pd.DataFrame(), list(days.iter_days(FIRST, LAST)), TZ).days
    sessions = []
    for i, day in enumerate(days.iter_days(FIRST, LAST)):
        start = days.day_window(day, TZ)[0] + timedelta(hours=2)
        sessions.append(
            {
                "session_id": f"s{i}",
                "device_id": "SN1",
                "kind": "charge",
                "start_time": start,
                "end_time": start + timedelta(hours=2),
                "duration_s": 7200.0,
                "energy_kwh": 4.0,
                "cost_pln": 2.0,
                "status": "completed",
                "partition_date": day,
            }
        )
    with Warehouse.from_settings(WarehouseSettings(data_dir=data_dir())) as warehouse:
        warehouse.upsert("daily_energy", report[list(DAILY_ENERGY_COLUMNS)])
        warehouse.upsert("battery_sessions", sessions)


def test_export_writes_the_range_as_csv(tmp_path, capsys) -> None:
    _fill_warehouse()
    out = tmp_path / "export"
    argv = ["export", "--start", "2025-06-10", "--end", "2025-06-11", "--out", str(out)]
    assert main(argv) == 0
    daily = pd.read_csv(out / "daily_energy.csv")
    assert list(daily["day"]) == ["2025-06-10", "2025-06-11"]
    assert daily["load_kwh"].to_numpy() == pytest.approx([9.6, 9.6])
    assert set(DAILY_ENERGY_COLUMNS) <= set(daily.columns)
    sessions = pd.read_csv(out / "battery_sessions.csv")
    assert list(sessions["session_id"]) == ["s1", "s2"]
    assert sessions["start_time"].iloc[0] == "2025-06-10T02:00:00+02:00"
    assert "2 daily reports" in capsys.readouterr().out
    # Again: same files, not appended to.
    assert main(argv) == 0
    assert len(pd.read_csv(out / "daily_energy.csv")) == 2
    assert not list(out.glob(".*"))
    assert main([*argv, "--device", "nobody"]) == 1
    assert "no battery sessions and no daily reports" in capsys.readouterr().err
    assert len(pd.read_csv(out / "daily_energy.csv")) == 2, "a refused export keeps the files"


def test_export_rounds_to_the_units_precision(tmp_path) -> None:
    _fill_warehouse()
    with Warehouse.from_settings(WarehouseSettings(data_dir=data_dir())) as warehouse:
        warehouse.execute(
            "UPDATE daily_energy SET load_kwh = 21.600000000000364, net_cost_pln = 3.14159, "
            "self_sufficiency_pct = 12.3456, peak_load_w = 400.4"
        )
    out = tmp_path / "export"
    assert main(["export", "--start", "2025-06-10", "--end", "2025-06-10", "--out", str(out)]) == 0
    text = (out / "daily_energy.csv").read_text()
    assert "21.600000000000364" not in text
    daily = pd.read_csv(out / "daily_energy.csv")
    assert daily["load_kwh"].iloc[0] == 21.6
    assert daily["net_cost_pln"].iloc[0] == 3.14
    assert daily["self_sufficiency_pct"].iloc[0] == 12.3
    assert daily["peak_load_w"].iloc[0] == 400.0


def test_export_refuses_a_missing_warehouse_and_creates_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "export"
    argv = ["export", "--start", "2025-06-10", "--end", "2025-06-11", "--out", str(out)]
    assert main(argv) == 1
    assert "no warehouse at" in capsys.readouterr().err
    assert not data_dir().exists() and not out.exists()


def test_export_refuses_bad_dates(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--start", "10.06.2025", "--end", "2025-06-11", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not a date" in capsys.readouterr().err
    assert (
        main(["export", "--start", "2025-06-11", "--end", "2025-06-10", "--out", str(tmp_path)])
        == 2
    )
    assert main(["export", "--start", "2025-06-11", "--out", str(tmp_path)]) == 2
    assert "both --start and --end are required" in capsys.readouterr().err


def _archive_days() -> pd.DataFrame:
    readings = make_readings(
        FIRST, LAST, TZ, cadence_s=120, device_id="SN1", load=constant(400), include_end=False
    )
    archive = Archive(archive_root(data_dir()))
    for day in days.iter_days(FIRST, LAST):
        start, end = days.day_window(day, TZ)
        archive.write_day(day, readings[(readings["time"] >= start) & (readings["time"] < end)])
    return readings


def test_restore_into_the_configured_parquet_store(capsys) -> None:
    readings = _archive_days()
    assert main(["restore", "--start", "2025-06-10", "--end", "2025-06-11"]) == 0
    output = capsys.readouterr().out
    assert "2025-06-10: 720 readings from 1 files" in output
    store = ParquetRawStore(data_dir() / "raw")
    window = days.range_window(date(2025, 6, 10), LAST, TZ)
    restored = store.read(*window)
    assert len(restored) == 2 * 720
    assert main(["restore", "2025-06-10", "2025-06-11"]) == 0, "positional days still work"
    pd.testing.assert_frame_equal(store.read(*window), restored)
    assert main(["restore", "2025-06-10", "--end", "2025-06-11"]) == 2
    assert store.read(*days.day_window(FIRST, TZ)).empty
    assert len(readings) == 3 * 720


def test_restore_into_influxdb_and_its_failures(
    monkeypatch, capsys, influx_server, influx_db
) -> None:
    _archive_days()
    assert main(["restore", "2025-07-01", "2025-07-02"]) == 1
    assert "nothing archived" in capsys.readouterr().err

    monkeypatch.setenv("GOODWE_INFLUX_URL", "http://127.0.0.1:9")
    assert main(["restore", "2025-06-10", "2025-06-10"]) == 1
    assert "run the restore again later" in capsys.readouterr().err

    monkeypatch.setenv("GOODWE_INFLUX_URL", influx_server.url)
    monkeypatch.setenv("GOODWE_INFLUX_DB", influx_db)
    assert main(["restore", "2025-06-09", "2025-06-09"]) == 0
    back = InfluxRawStore(RawStoreSettings(influx_url=influx_server.url, influx_db=influx_db)).read(
        *days.day_window(FIRST, TZ)
    )
    assert len(back) == 720
