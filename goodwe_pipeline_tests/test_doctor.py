"""``goodwe-pipeline doctor`` against real stores and sockets: one line per part, secrets masked."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from goodwe_pipeline.cli import main
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    free_loopback_udp_host,
)
from goodwe_pipeline.raw_store.influx import InfluxRawStore
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.readings import normalize
from goodwe_pipeline.warehouse import Warehouse


def data_dir() -> Path:
    return Path(os.environ["GOODWE_DATA_DIR"])


def test_doctor_all_healthy_with_an_emulated_inverter(monkeypatch, capsys, influx_server) -> None:
    emulator = Emulator(EmulatorConfig(host=free_loopback_udp_host(), serial="9010KETU23DOC001"))
    with EmulatorThread(emulator):
        host, port = emulator.udp_address
        monkeypatch.setenv("GOODWE_INVERTERS", f"{host}:{port}/ET")
        monkeypatch.setenv("GOODWE_INFLUX_URL", influx_server.url)
        monkeypatch.setenv("GOODWE_INFLUX_DB", "doctor_check")
        code = main(["doctor"])
    output = capsys.readouterr().out
    lines = output.strip().splitlines()
    assert lines[0].startswith("ok   inverter ") and "9010KETU23DOC001" in lines[0]
    assert any(line.startswith("ok   influxdb:") for line in lines)
    assert any(line.startswith("warn warehouse: no SQLite warehouse yet") for line in lines)
    assert any(line.startswith("ok   spool:") for line in lines)
    # Nothing has written readings yet, and an inverter is configured: readings are stale.
    readings = next(i for i, line in enumerate(lines) if "readings:" in line)
    assert lines[readings].startswith("FAIL readings:")
    assert lines[readings + 1].startswith("     fix: ")
    assert lines[-1] == "1 error(s), 1 warning(s)"
    assert code == 1
    fresh = normalize(
        pd.DataFrame(
            {
                "time": [datetime.now(UTC) - timedelta(seconds=30)],
                "device_id": ["9010KETU23DOC001"],
                "load_power_w": [100.0],
            }
        )
    )
    InfluxRawStore(
        RawStoreSettings(
            influx_url=influx_server.url, influx_db="doctor_check", create_database=True
        )
    ).write(fresh)
    monkeypatch.delenv("GOODWE_INVERTERS")
    assert main(["doctor"]) == 0


def test_doctor_reports_failures_without_secrets(monkeypatch, capsys) -> None:
    password = "pg-Secret-42"
    token = "influx-Token-99"
    monkeypatch.setenv("GOODWE_INFLUX_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GOODWE_INFLUX_TOKEN", token)
    monkeypatch.setenv(
        "GOODWE_WAREHOUSE_URL", f"postgresql+psycopg2://someone:{password}@127.0.0.1:9/nowhere"
    )
    monkeypatch.setenv("GOODWE_INVERTERS", "127.0.0.1:9/ET")
    assert main(["doctor", "--timeout", "0.2", "--retries", "0"]) == 1
    output = capsys.readouterr().out
    assert password not in output and token not in output
    failing = [line for line in output.splitlines() if line.startswith("FAIL")]
    assert any("inverter 127.0.0.1:9" in line for line in failing)
    assert any(line.startswith("FAIL influxdb:") for line in failing)
    assert any(line.startswith("FAIL warehouse:") for line in failing)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://someone@127.0.0.1:9/nowhere?password=pg-Query-Secret",
        "postgresql://someone:pg-Query@Secret@127.0.0.1:9/nowhere",
    ],
    ids=["password in the query", "unencoded @ in the password"],
)
def test_doctor_keeps_warehouse_url_credentials_out_of_its_report(monkeypatch, capsys, url):
    monkeypatch.setenv("GOODWE_WAREHOUSE_URL", url)
    assert main(["doctor"]) == 1
    output = capsys.readouterr().out
    assert "Query" not in output and "Secret" not in output, output
    failing = [line for line in output.splitlines() if line.startswith("FAIL warehouse:")]
    assert len(failing) == 1 and "port 9 failed" in failing[0], output


URL_PASSWORD = "Dr1x#Dr2y/Dr3z?Dr4q@Dr5r:Dr6s"
URL_PASSWORD_PIECES = re.split(r"[#/?@:]", URL_PASSWORD)


@pytest.mark.parametrize(
    ("url", "failing"),
    [
        (f"http://admin:{URL_PASSWORD}@127.0.0.1:9", "FAIL influxdb: "),
        (f"http://admin:{URL_PASSWORD}@127.0.0.1:9x", "FAIL raw store: cannot be opened: "),
    ],
)
def test_doctor_keeps_influx_url_credentials_out_of_its_report(
    monkeypatch, capsys, url, failing
) -> None:
    """A password with characters that end a URL's user part (not percent-encoded): an
    unreachable server and an unparsable URL are failed checks, never a crash or a leak."""
    monkeypatch.setenv("GOODWE_INFLUX_URL", url)
    assert main(["doctor"]) == 1
    output = capsys.readouterr().out
    assert all(piece not in output for piece in URL_PASSWORD_PIECES), output
    lines = output.splitlines()
    assert any(line.startswith(failing) for line in lines), output
    assert any(line.startswith("warn warehouse:") for line in lines), output


def test_doctor_without_configuration_warns_creates_nothing_and_exits_0(capsys) -> None:
    assert main(["doctor"]) == 0
    output = capsys.readouterr().out
    lines = output.splitlines()
    assert lines[0].startswith("warn inverters: none configured")
    assert lines[1] == "     fix: set GOODWE_INVERTERS, e.g. GOODWE_INVERTERS=192.168.1.50/ET"
    assert any(line.startswith("warn parquet: no readings stored yet") for line in lines)
    assert any(line.startswith("warn warehouse: no SQLite warehouse yet") for line in lines)
    disk = next(line for line in lines if line.startswith("ok   disk: "))
    assert re.search(r"disk: \d+\.\d (KiB|MiB|GiB|TiB) free in ", disk), disk
    assert "bytes" not in output
    assert lines[-1] == "0 error(s), 3 warning(s)"
    assert not data_dir().exists(), "doctor created the data dir"


def test_doctor_on_existing_embedded_stores_is_all_ok(capsys) -> None:
    with Warehouse.from_settings(WarehouseSettings(data_dir=data_dir())) as warehouse:
        warehouse.migrate()
    ParquetRawStore(data_dir() / "raw").write(
        normalize(
            pd.DataFrame(
                {"time": [datetime.now(UTC)], "device_id": ["SN1"], "load_power_w": [100.0]}
            )
        )
    )
    assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("ok   parquet: ") and "free" in line for line in lines)
    assert any(line.startswith("ok   warehouse: ") for line in lines)
    assert any(line.startswith("ok   readings: newest reading") for line in lines)
    assert lines[-1] == "0 error(s), 1 warning(s)"
