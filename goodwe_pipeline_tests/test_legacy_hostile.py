"""Hostile legacy folders: whatever a file, name or record holds, the migration goes on, lands
every good reading and reports what it could not use (real files, FIFOs and links)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.demo.legacy_files import ENERGY_DIR, LegacyFolder
from goodwe_pipeline.history import decode
from goodwe_pipeline.history.decisions_migration import migrate_decisions
from goodwe_pipeline.history.readings_migration import migrate_readings
from goodwe_pipeline.history.settings import LegacySettings
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.readings import DEVICE_ID, SOURCE, SOURCE_LEGACY
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.legacy_corpus import SERIAL, flat, nested, reading_at

TZ = "Europe/Warsaw"
DAY = date(2025, 9, 18)
TIMES = [f"2025-09-18T12:{m:02d}:00" for m in range(0, 60, 10)]


def write_day(root: Path) -> LegacyFolder:
    """A daily array of six readings and one current_data file: seven good readings."""
    folder = LegacyFolder(root, TZ)
    folder.daily_array(DAY, [flat(reading_at(t)) for t in TIMES])
    folder.current_data(nested(reading_at("2025-09-18T13:00:00")), datetime(2025, 9, 18, 13))
    return folder


def migrate(root: Path, data: Path, **settings) -> tuple[object, pd.DataFrame, pd.DataFrame]:
    """Readings of ``DAY`` in a thread that must end within a minute (a FIFO must not hang it)."""
    store = open_raw_store(RawStoreSettings(data_dir=data))
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=data))
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = migrate_readings(
                LegacySettings(root, timezone=TZ, **settings), store, warehouse, DAY, DAY
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    try:
        assert not worker.is_alive(), "the migration hangs"
        assert "error" not in outcome, outcome.get("error")
        files = warehouse.read_frame("SELECT * FROM migration_files").set_index("path")
    finally:
        warehouse.dispose()
    start, end = pd.Timestamp("2025-09-17T22:00Z"), pd.Timestamp("2025-09-18T22:00Z")
    frame = store.read(start, end)
    return outcome["result"], frame[frame[SOURCE] == SOURCE_LEGACY], files


def rejected(files: pd.DataFrame, path: str, fragment: str) -> None:
    assert path in files.index, f"{path} is not in migration_files"
    row = files.loc[path]
    assert row["outcome"] == "rejected", row
    assert fragment in row["reason"], row["reason"]


def test_a_fifo_named_like_a_data_file_is_reported_not_read(tmp_path):
    root = tmp_path / "optimiser"
    energy = root / ENERGY_DIR
    write_day(root)
    os.mkfifo(energy / "current_data_20250918_140000.json")
    os.mkfifo(energy / "charging_decision_20250918_140000.json")

    result, frame, files = migrate(root, tmp_path / "data")

    assert len(frame) == 7
    rejected(files, "out/energy_data/current_data_20250918_140000.json", "FIFO")
    assert "out/energy_data/current_data_20250918_140000.json" in {
        e.path for e in result.rejected_files()
    }
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "data"))
    try:
        decisions = migrate_decisions(LegacySettings(root, timezone=TZ), warehouse, DAY, DAY)
    finally:
        warehouse.dispose()
    [fifo] = decisions.rejected_files()
    assert fifo.path.endswith("charging_decision_20250918_140000.json") and "FIFO" in fifo.reason


def test_symlinks_are_followed_only_to_regular_files_inside_the_folder(tmp_path):
    root = tmp_path / "optimiser"
    folder = write_day(root)
    energy = root / ENERGY_DIR
    foreign = tmp_path / LegacyFolder(tmp_path, TZ).current_data(
        nested(reading_at("2025-09-18T15:00:00"), serial="FOREIGN-1"),
        datetime(2025, 9, 18, 15),
        directory="elsewhere",
    )
    inside = root / folder.current_data(
        nested(reading_at("2025-09-18T16:00:00")), datetime(2025, 9, 18, 16), directory="archive"
    )
    links = {
        "current_data_20250918_140000.json": "/dev/zero",
        "current_data_20250918_140500.json": "/etc/passwd",
        "current_data_20250918_150000.json": str(foreign),
        "current_data_20250918_151000.json": str(tmp_path / "missing.json"),
        "current_data_20250918_152000.json": "current_data_20250918_152000.json",
        "current_data_20250918_160000.json": str(inside),
    }
    for name, target in links.items():
        (energy / name).symlink_to(target)

    result, frame, files = migrate(root, tmp_path / "data")

    assert set(frame[DEVICE_ID]) == {SERIAL}, "a file outside the folder was read"
    assert len(frame) == 8, "the link to a file inside the folder is read"
    base = "out/energy_data/"
    rejected(files, base + "current_data_20250918_140000.json", "symbolic link to a device")
    rejected(files, base + "current_data_20250918_140500.json", "outside the legacy folder")
    rejected(files, base + "current_data_20250918_150000.json", "outside the legacy folder")
    rejected(files, base + "current_data_20250918_151000.json", "dangling symbolic link")
    rejected(files, base + "current_data_20250918_152000.json", "symbolic link loop")
    assert files.loc[base + "current_data_20250918_160000.json", "outcome"] == "migrated"
    assert {e.path for e in result.rejected_files()} == {base + name for name in list(links)[:5]}


def test_record_times_beyond_the_calendar_reject_only_that_record(tmp_path):
    root = tmp_path / "optimiser"
    folder = write_day(root)
    records = [flat(reading_at(t)) for t in ("2025-09-18T14:00:00", "2025-09-18T14:10:00")]
    records[0]["timestamp"] = "0001-01-01T00:00:00"
    records[1]["timestamp"] = "9999-12-31T23:59:59-11:00"
    good = flat(reading_at("2025-09-18T14:20:00"))
    folder.daily_array(DAY, [flat(reading_at(t)) for t in TIMES] + records + [good])
    decisions = [
        {"timestamp": "0001-01-01T00:00:00", "action": "charge", "reason": "x"},
        {"timestamp": "9999-12-31T23:59:59-11:00", "action": "charge", "reason": "y"},
        {"timestamp": "2025-09-18T14:00:00", "action": "wait", "reason": "z"},
    ]
    for number, decision in enumerate(decisions):
        folder.charging_decision(decision, datetime(2025, 9, 18, 14, 0, number))

    result, frame, files = migrate(root, tmp_path / "data")

    assert len(frame) == 8
    assert result.rejected_records == 2
    reason = files.loc[f"out/energy_data/energy_data_{DAY}.json", "reason"]
    assert "before 2010" in reason and "in the future" in reason
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "data"))
    try:
        outcome = migrate_decisions(LegacySettings(root, timezone=TZ), warehouse, DAY, DAY)
    finally:
        warehouse.dispose()
    assert outcome.rows["legacy_decisions"] == 1
    assert outcome.rejected_records == 2


def test_a_folder_name_that_is_not_utf8_is_shown_escaped_and_the_run_goes_on(tmp_path):
    root = tmp_path / "optimiser"
    write_day(root).current_data(
        nested(reading_at("2025-09-18T17:00:00")),
        datetime(2025, 9, 18, 17),
        directory="out/" + os.fsdecode(b"backup-\xff\xfe"),
    )

    result, frame, files = migrate(root, tmp_path / "data")

    assert len(frame) == 8
    path = "out/backup-\\xff\\xfe/current_data_20250918_170000.json"
    assert files.loc[path, "outcome"] == "migrated"


def test_a_serial_the_store_cannot_keep_loses_only_its_own_readings(tmp_path):
    root = tmp_path / "optimiser"
    folder = write_day(root)
    odd = nested(reading_at("2025-09-18T18:00:00"), serial="ODD-SERIAL\\")
    folder.current_data(odd, datetime(2025, 9, 18, 18))

    result, frame, files = migrate(root, tmp_path / "data", device_id=SERIAL)

    good = frame[frame[DEVICE_ID] == SERIAL]
    assert len(good) == 7, "every other reading lands"
    row = files.loc["out/energy_data/current_data_20250918_180000.json"]
    if len(frame) == 8:
        assert row["outcome"] == "migrated"
    else:
        assert row["outcome"] == "rejected" and "ODD-SERIAL" in row["reason"]
        assert "ODD-SERIAL\\" in result.refused_devices
        assert result.readings_written == result.readings_expected == 7


def test_a_file_over_the_size_limit_is_rejected_before_it_is_read(tmp_path):
    root = tmp_path / "optimiser"
    huge = write_day(root).current_data(b"", datetime(2025, 9, 18, 19))
    os.truncate(root / huge, 300 * 1024 * 1024)

    result, frame, files = migrate(root, tmp_path / "data")

    assert len(frame) == 7
    rejected(files, "out/energy_data/current_data_20250918_190000.json", "exceeds the")


def test_decision_text_postgresql_cannot_hold_is_stored_cleaned(tmp_path, private_postgres_url):
    root = tmp_path / "optimiser"
    folder = write_day(root)
    decision = {
        "timestamp": "2025-09-18T14:00:00",
        "action": "charge\u0000now",
        "reason": "cheap \ud800 window\u0000",
        "details": {"note\u0000": "\udcff"},
    }
    folder.charging_decision(decision, datetime(2025, 9, 18, 14))
    warehouse = Warehouse.from_settings(
        WarehouseSettings(url=private_postgres_url, data_dir=tmp_path / "data")
    )
    try:
        outcome = migrate_decisions(LegacySettings(root, timezone=TZ), warehouse, DAY, DAY)
        rows = warehouse.read_frame(
            "SELECT action, reason, details FROM legacy_decisions WHERE source_file = :file",
            {"file": "out/energy_data/charging_decision_20250918_140000.json"},
        )
    finally:
        warehouse.dispose()
    assert outcome.rows["legacy_decisions"] == 1
    assert rows.loc[0, "action"] == "chargenow"
    assert rows.loc[0, "reason"] == "cheap \ufffd window"
    assert rows.loc[0, "details"]["details"] == {"note": "\ufffd"}


def test_a_file_with_more_json_values_than_the_bound_is_rejected_unparsed(tmp_path, monkeypatch):
    """The memory bound: values are counted before parsing (the bound lowered to keep the file
    small; ``bench/migration_memory.py`` measures the real one on a 200 MB file)."""
    monkeypatch.setattr(decode, "MAX_JSON_VALUES", 1_000)
    root = tmp_path / "optimiser"
    write_day(root).daily_array(date(2025, 9, 19), list(range(5_000)))

    result, frame, files = migrate(root, tmp_path / "data")

    assert len(frame) == 7
    rejected(files, "out/energy_data/energy_data_2025-09-19.json", "5,000 JSON values")


def test_a_decision_in_the_repeated_hour_is_placed_by_its_file_or_rejected(tmp_path):
    """A decision log that steps back once places both; a lone decision with no modification
    time near either occurrence is rejected, not guessed to be the first."""
    folder = LegacyFolder(tmp_path / "optimiser", TZ)
    day = date(2025, 10, 26)
    lines = [
        {"timestamp": f"2025-10-26T{t}", "action": "wait", "reason": t}
        for t in ("01:50:00", "02:40:00", "02:20:00", "03:10:00")
    ]
    folder.charging_decision_log(day, lines)
    folder.charging_decision(
        {"timestamp": "2025-10-26T02:30:00", "action": "charge"},
        datetime(2025, 10, 26, 2, 30),
        datetime.fromtimestamp(1_800_000_000, UTC),
    )
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "data"))
    try:
        outcome = migrate_decisions(
            LegacySettings(tmp_path / "optimiser", timezone=TZ), warehouse, day, day
        )
        rows = warehouse.read_frame("SELECT decision_time, reason FROM legacy_decisions")
        files = warehouse.read_frame("SELECT * FROM migration_files").set_index("path")
    finally:
        warehouse.dispose()
    times = dict(zip(rows["reason"], pd.to_datetime(rows["decision_time"], utc=True), strict=True))
    assert times["02:40:00"] == pd.Timestamp("2025-10-26T00:40:00Z")
    assert times["02:20:00"] == pd.Timestamp("2025-10-26T01:20:00Z")
    assert outcome.rows["legacy_decisions"] == 4
    rejected(
        files, "out/energy_data/charging_decision_20251026_023000.json", "repeated autumn hour"
    )
