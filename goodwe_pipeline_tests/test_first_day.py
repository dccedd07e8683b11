"""Where the daily partitions begin: the first day of the owner's data, found cheaply at load."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from goodwe_pipeline.demo.legacy_files import ENERGY_DIR, LegacyFolder
from goodwe_pipeline.history.first_day import MARKER, first_data_day
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.readings import normalize

TODAY = date(2026, 12, 3)


def legacy_folder(root: Path) -> LegacyFolder:
    """An optimiser folder whose files hold ``{}``: only their names count here."""
    folder = LegacyFolder(root, "Europe/Warsaw")
    folder.current_data("{}", datetime(2025, 3, 2, 10, 15))
    return folder


def test_nothing_yet_is_today_and_a_missing_data_dir_is_not_created(tmp_path) -> None:
    data = tmp_path / "data"
    assert first_data_day(data, None, TODAY) == TODAY
    assert not data.exists()


def test_oldest_legacy_file_name_wins_and_implausible_names_are_ignored(tmp_path) -> None:
    folder = legacy_folder(tmp_path / "optimiser")
    folder.daily_array(date(2025, 4, 1), "{}")
    folder.energy_snapshot("{}", datetime(2000, 1, 1, 0, 1), gzipped=True)  # a clock not yet set
    folder.daily_stats(date(2030, 1, 1), "{}")  # in the future
    (folder.root / ENERGY_DIR / "notes.txt").write_text("{}")
    legacy = folder.root
    data = tmp_path / "data"
    data.mkdir()
    assert first_data_day(data, legacy, TODAY) == date(2025, 3, 2)
    assert (data / MARKER).read_text().strip() == "2025-03-02"


def test_an_older_sqlite_database_row_counts(tmp_path) -> None:
    folder = legacy_folder(tmp_path / "optimiser")
    database = folder.database("2024-01-01T00:00:00")
    database.readings(
        [
            {"timestamp": "1999-12-31T23:59:00", "pv_power": 1.0},
            {"timestamp": "2024-11-05T06:00:00", "pv_power": 2.0},
        ]
    )
    database.close()
    legacy = folder.root
    assert first_data_day(tmp_path / "data", legacy, TODAY) == date(2024, 11, 5)


def test_local_stores_and_the_marker_keep_the_earliest_day(tmp_path) -> None:
    data = tmp_path / "data"
    ParquetRawStore(data / "raw").write(
        normalize(
            pd.DataFrame(
                {
                    "time": [pd.Timestamp("2025-06-10 12:00", tz="UTC")],
                    "device_id": ["SN1"],
                    "load_power_w": [100.0],
                }
            )
        )
    )
    (data / "archive" / "2025-05-20").mkdir(parents=True)
    assert first_data_day(data, None, TODAY) == date(2025, 5, 20)
    # The archive is moved away: the partitions do not shrink.
    (data / "archive" / "2025-05-20").rmdir()
    assert first_data_day(data, None, TODAY) == date(2025, 5, 20)
    # Older history appears: the first day moves back.
    legacy = LegacyFolder(tmp_path / "optimiser", "Europe/Warsaw")
    legacy.daily_plan(date(2025, 1, 1), "{}")
    assert first_data_day(data, legacy.root, TODAY) == date(2025, 1, 1)
    assert (data / MARKER).read_text().strip() == "2025-01-01"


def _partition_start(env: dict[str, str]) -> str:
    code = (
        "from goodwe_pipeline.defs.partitions import daily_partitions as p; "
        "print(p.start.date().isoformat(), p.end_offset)"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOODWE_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()[-2]


def test_partitions_start_at_the_data_unless_goodwe_history_start_says_otherwise(tmp_path) -> None:
    legacy = legacy_folder(tmp_path / "optimiser").root
    env = {"GOODWE_DATA_DIR": str(tmp_path / "data"), "GOODWE_LEGACY_DIR": str(legacy)}
    assert _partition_start(env) == "2025-03-02"
    assert _partition_start({**env, "GOODWE_HISTORY_START": "2024-06-01"}) == "2024-06-01"
