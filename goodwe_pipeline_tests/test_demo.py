"""The demo: sample history in every legacy format, its migration, and ``goodwe-pipeline demo``."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from goodwe_pipeline.common import days, settings
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.defs.history.assets import legacy_decisions, legacy_readings
from goodwe_pipeline.defs.history.resources import LegacyResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.demo.history import Manifest, write_demo_history
from goodwe_pipeline.demo.inverters import start_demo_inverters
from goodwe_pipeline.demo.processes import group_members
from goodwe_pipeline.emulator import free_loopback_udp_host
from goodwe_pipeline.history.formats import READING_FORMATS, detect
from goodwe_pipeline.ingest.inverters import SyncInverterPoller
from goodwe_pipeline.prices.quarter_hours import quarter_hours
from goodwe_pipeline.prices.sources import read_price_csv
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.readings import SOURCE, SOURCE_LEGACY
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.servers import free_port

TZ = "Europe/Warsaw"
END = date(2025, 10, 31)
"""The window 2025-10-02..31 holds the autumn DST day, 26 October (25 hours)."""
DST_DAY = "2025-10-26"
LIVE_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, Manifest]:
    directory = tmp_path_factory.mktemp("demo")
    return directory, write_demo_history(directory, end=END, days_count=30, tz=TZ)


def test_demo_data_has_every_legacy_format(history: tuple[Path, Manifest]) -> None:
    directory, manifest = history
    root = directory / "optimiser"
    formats = {
        str(found.format)
        for path in root.rglob("*")
        if path.is_file() and (found := detect(path.name)) is not None
    }
    assert formats == {
        "historical_data",
        "current_data",
        "energy_data_daily",
        "energy_data_snapshot",
        "coordinator_state_log",
        "coordinator_state",
        "optimiser_db",
        "daily_stats",
        "charging_decision",
        "battery_selling_decision",
        "selling_session_records",
        "daily_plan",
    }
    assert manifest.first_day == "2025-10-02" and manifest.last_day == "2025-10-31"
    assert len(manifest.readings_per_day) == 30
    assert manifest.readings_per_day[DST_DAY] == 1500, "the 25-hour day has 1500 minutes"
    assert sum(manifest.files.values()) == sum(1 for p in root.rglob("*") if p.is_file())
    gz = list((root / "out/energy_data").glob("energy_data_*.json.gz"))
    assert len(gz) > 10 and any(path.name.endswith(".json.gz") for path in gz)
    assert sorted(b["problem"] for b in manifest.broken_files) == [
        "empty file",
        "invalid gzip",
        "truncated JSON",
    ]
    for broken in manifest.broken_files:
        data = (root / broken["path"]).read_bytes()
        if broken["problem"] == "empty file":
            assert data == b""
        elif broken["problem"] == "invalid gzip":
            with pytest.raises((OSError, EOFError, zlib.error)):
                gzip.decompress(data)
        else:
            with pytest.raises(json.JSONDecodeError):
                json.loads(data)


def test_demo_readings_follow_the_legacy_conventions(history: tuple[Path, Manifest]) -> None:
    directory, _ = history
    out = directory / "optimiser" / "out"
    snapshot = json.loads(sorted(out.glob("energy_data/historical_data_*.json"))[-1].read_text())
    assert len(snapshot) == 100
    first = snapshot[0]
    assert "+" not in first["timestamp"] and "Z" not in first["timestamp"], "local, no offset"
    for reading in snapshot:
        pv = reading["photovoltaic"]["current_power_w"]
        battery = reading["battery"]["power_w"]
        grid = reading["grid"]["power_w"]
        assert reading["house_consumption"]["calculated_power_w"] == pv + battery - grid
        if battery > 0:
            assert reading["battery"]["current"] >= 0, "+ discharge"
    unknowns = sum(
        '"Unknown"' in line
        for path in sorted(out.glob("coordinator_state_2025*.json"))
        for line in path.read_text().splitlines()
    )
    assert unknowns > 0, "missing sensors read 'Unknown'"
    flat = json.loads((out / "energy_data" / f"energy_data_{DST_DAY}.json").read_text())
    assert len(flat) == 1500
    repeated = [r["timestamp"][11:16] for r in flat if r["timestamp"][11:13] == "02"]
    assert len(repeated) == 120, "the repeated autumn hour appears twice in wall-clock time"
    for record in flat:
        assert record["price_pln"] is None
        assert "grid_import_total_kwh" in record
    with closing(
        sqlite3.connect(f"file:{directory / 'optimiser/data/goodwe_energy.db'}?mode=ro", uri=True)
    ) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {
            "energy_data",
            "charging_sessions",
            "battery_selling_sessions",
            "coordinator_decisions",
        } <= tables
        rows = db.execute("SELECT count(*) FROM energy_data").fetchone()[0]
        assert rows > 10 * 1440 - 60


def test_demo_prices_cover_the_days_and_tomorrow(history: tuple[Path, Manifest]) -> None:
    directory, manifest = history
    prices = read_price_csv(directory / "prices.csv", TZ)
    assert manifest.price_days[-1] == (END + timedelta(days=2)).isoformat()
    for text in manifest.price_days:
        day = days.parse_day(text)
        start, end = days.day_window(day, TZ)
        in_day = prices[(prices["time_start"] >= start) & (prices["time_start"] < end)]
        assert list(in_day["time_start"]) == list(quarter_hours(day, TZ))
    assert prices["market_pln_kwh"].between(0.05, 2.0).all()
    assert prices["rce_pln_kwh"].notna().all()


def test_demo_data_is_deterministic_and_refuses_the_future(tmp_path: Path) -> None:
    first = write_demo_history(tmp_path / "a", end=date(2025, 3, 31), days_count=3, seed=3, tz=TZ)
    second = write_demo_history(tmp_path / "b", end=date(2025, 3, 31), days_count=3, seed=3, tz=TZ)
    assert first.readings_per_day == second.readings_per_day
    offline = sum(
        (datetime.fromisoformat(o["to"]) - datetime.fromisoformat(o["from"])).seconds // 60
        for o in first.outages
        if o["from"].startswith("2025-03-30")
    )
    assert offline > 0
    assert first.readings_per_day["2025-03-30"] == 23 * 60 - offline, "the 23-hour spring day"
    a = sorted(
        (p.relative_to(tmp_path / "a"), p.read_bytes())
        for p in (tmp_path / "a").rglob("*")
        if p.is_file() and p.name != "manifest.json"
    )
    b = sorted(
        (p.relative_to(tmp_path / "b"), p.read_bytes())
        for p in (tmp_path / "b").rglob("*")
        if p.is_file() and p.name != "manifest.json"
    )
    assert a == b
    with pytest.raises(FileExistsError):
        write_demo_history(tmp_path / "a", end=date(2025, 3, 31), days_count=3, tz=TZ)
    with pytest.raises(ValueError, match="not in the past"):
        write_demo_history(tmp_path / "c", end=date.today() + timedelta(days=1), tz=TZ)


def test_migration_of_the_demo_history_lands_every_reading(
    history: tuple[Path, Manifest], tmp_path: Path
) -> None:
    directory, manifest = history
    data_dir = tmp_path / "store"
    resources = {
        "raw_store": RawStoreResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(data_dir=str(data_dir)),
        "legacy": LegacyResource(legacy_dir=manifest.legacy_dir, timezone=TZ),
    }
    result = dg.materialize(
        [legacy_readings, legacy_decisions],
        instance=dg.DagsterInstance.ephemeral(),
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": manifest.first_day,
            "dagster/asset_partition_range_end": manifest.last_day,
        },
    )
    assert result.success
    store = open_raw_store(RawStoreSettings(data_dir=str(data_dir)))
    for text, expected in manifest.readings_per_day.items():
        start, end = days.day_window(days.parse_day(text), TZ)
        frame = store.read(start, end)
        assert len(frame) == expected, text
        assert set(frame[SOURCE]) == {SOURCE_LEGACY}
        assert set(frame["device_id"]) == {manifest.device_id}
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=str(data_dir)))
    try:
        rejected = warehouse.read_frame(
            "SELECT path, format FROM migration_files WHERE outcome = 'rejected'"
        )
        counts = {
            table: int(warehouse.read_frame(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])  # noqa: S608
            for table in ("legacy_decisions", "legacy_planned_sessions", "legacy_selling_sessions")
        }
    finally:
        warehouse.dispose()
    reading_formats = {str(f) for f in READING_FORMATS}
    rejected_readings = rejected[rejected["format"].isin(reading_formats)]
    assert sorted(rejected_readings["path"]) == sorted(b["path"] for b in manifest.broken_files)
    assert counts == {
        "legacy_decisions": manifest.expected_decisions,
        "legacy_planned_sessions": manifest.planned_sessions,
        "legacy_selling_sessions": manifest.selling_sessions,
    }
    decisions_event = result.asset_materializations_for_node("legacy_decisions")[0]
    assert decisions_event.metadata["rejected_records"].value == manifest.unplaceable_decision_rows


# -- goodwe-pipeline demo ------------------------------------------------------------------


def test_demo_inverters_answer_and_fall_back_to_tcp_when_udp_8899_is_taken() -> None:
    host = free_loopback_udp_host()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((host, 8899))
        inverters = start_demo_inverters(udp_host=host, lifetime_kwh={"pv": 20000.0}, soc_pct=42.0)
        try:
            assert len(inverters.notes) == 1 and "8899" in inverters.notes[0]
            addresses = settings.parse_inverters(inverters.spec)
            assert [a.port != 8899 for a in addresses] == [True, True], inverters.spec
            poller = SyncInverterPoller(timeout_s=2.0, retries=1)
            try:
                results = poller.poll(addresses)
            finally:
                poller.close()
        finally:
            inverters.stop()
    assert [r.error for r in results] == [None, None]
    owner, neighbour = (r.reading for r in results)
    assert owner["device_id"] == "9010KETU23EM0001" and neighbour["device_id"] == "9006KETU23EM0002"
    assert owner["pv_energy_total_kwh"] >= 20000.0, "the owner's counters continue the history"


class _Output:
    """Collects a child's stdout lines on a thread; ``wait_for`` a line with a bounded wait."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        with process.stdout:
            for line in process.stdout:
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if text in line), None)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                self._changed.wait(min(left, 1.0))

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def finish(self) -> None:
        """Wait until the child's stdout is read to its end (and closed)."""
        self._thread.join(30)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _udp_free(host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, 8899))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="inspects child processes through /proc")
def test_demo_command_serves_live_readings_and_stops_cleanly(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    yesterday = days.local_date(datetime.now(UTC), TZ) - timedelta(days=1)
    write_demo_history(directory, end=yesterday, days_count=3, tz=TZ)
    port = free_port()
    udp_host = free_loopback_udp_host()
    env = {**os.environ, "GOODWE_TIMEZONE": TZ}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "goodwe_pipeline.cli",
            "demo",
            "--port",
            str(port),
            "--dir",
            str(directory),
            "--udp-host",
            udp_host,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    output = _Output(process)
    dagster_pgid = None
    try:
        live = output.wait_for("live readings: first inverter_readings event", LIVE_TIMEOUT_S)
        assert live, (
            f"no live readings within {LIVE_TIMEOUT_S} s:\n{output.text()}\n{_log_tail(directory)}"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=10) as response:
            assert "dagster_webserver_version" in json.loads(response.read())
        assert f"udp {udp_host}:8899" in output.text()
        assert _live_devices(directory / "store", timeout=60) == {
            "9010KETU23EM0001",
            "9006KETU23EM0002",
        }
        children = _children(process.pid)
        assert len(children) == 1, f"the demo starts one child, dagster dev: {children}"
        dagster_pgid = children[0]
        members = group_members(dagster_pgid)
        assert len(members) >= 3, f"dagster dev, its webserver and daemon: {members}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rc = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(f"the demo did not stop on SIGINT:\n{output.text()}") from None
    output.finish()
    assert rc == 0, output.text()
    assert "demo stopped" in output.text()
    assert dagster_pgid is not None
    assert group_members(dagster_pgid) == [], "a dagster dev process outlived the demo"
    assert group_members(process.pid) == []
    assert _udp_free(udp_host), "the UDP emulator still holds its port"


def _live_devices(data_dir: Path, timeout: float) -> set[str]:
    """Devices with readings in the demo's Parquet store, once both inverters are there."""
    store = open_raw_store(RawStoreSettings(data_dir=str(data_dir)))
    now = datetime.now(UTC)
    deadline = time.monotonic() + timeout
    while True:
        found = set(store.devices(now - timedelta(hours=1), now + timedelta(hours=1)))
        if len(found) >= 2 or time.monotonic() > deadline:
            return found
        time.sleep(1)


def _log_tail(directory: Path) -> str:
    log = directory / "dagster_dev.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no dagster dev log)"
