"""The legacy folder's names, listed once per process while its folders stay the same."""

from __future__ import annotations

import os
import time
from pathlib import Path

from goodwe_pipeline.history.index import FolderIndex
from goodwe_pipeline.history.listing import SETTLE_NS, legacy_names

LONG_AGO = time.time() - 3600


def _settle(*folders: Path) -> None:
    for folder in folders:
        os.utime(folder, (LONG_AGO, LONG_AGO))


def _folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    legacy = tmp_path / "optimiser"
    out, data = legacy / "out", legacy / "data"
    out.mkdir(parents=True)
    data.mkdir()
    (out / "current_data_20250601_120000.json").write_text("{}")
    (data / "daily_stats_20250601.json").write_text("{}")
    return legacy, out, data


def _paths(legacy: Path) -> list[str]:
    return sorted(relative for relative, *_ in legacy_names(legacy))


def test_a_settled_folder_is_listed_once_and_any_change_lists_it_again(tmp_path) -> None:
    legacy, out, data = _folder(tmp_path)
    _settle(legacy, out, data)
    first = legacy_names(legacy)
    assert legacy_names(legacy) is first
    assert [e.path for e in FolderIndex.scan(legacy).entries] == sorted(r for r, *_ in first)

    (out / "current_data_20250602_120000.json").write_text("{}")
    assert "out/current_data_20250602_120000.json" in _paths(legacy)

    _settle(out)
    (data / "daily_stats_20250601.json").unlink()
    assert _paths(legacy) == [
        "out/current_data_20250601_120000.json",
        "out/current_data_20250602_120000.json",
    ]

    _settle(data)
    (data / "archive").mkdir()
    (data / "archive" / "daily_stats_20250530.json").write_text("{}")
    assert "data/archive/daily_stats_20250530.json" in _paths(legacy)
    _settle(data, data / "archive")
    (data / "archive" / "daily_stats_20250531.json").write_text("{}")
    assert "data/archive/daily_stats_20250531.json" in _paths(legacy)


def test_a_folder_changed_moments_before_is_listed_every_time(tmp_path) -> None:
    """Within the file system's timestamp granularity a change may leave a folder's time as it
    was, so a folder younger than ``SETTLE_NS`` is never trusted."""
    legacy, out, data = _folder(tmp_path)
    _settle(legacy, data)
    recent = (time.time_ns() - SETTLE_NS // 2) / 1e9
    os.utime(out, (recent, recent))
    first = legacy_names(legacy)
    assert legacy_names(legacy) is not first
    assert legacy_names(legacy) == first


def test_a_folder_that_appears_or_goes_is_seen(tmp_path) -> None:
    legacy = tmp_path / "optimiser"
    legacy.mkdir()
    (legacy / "current_data_20250601_120000.json").write_text("{}")
    _settle(legacy)
    assert _paths(legacy) == ["current_data_20250601_120000.json"]

    (legacy / "out").mkdir()
    (legacy / "out" / "current_data_20250603_120000.json").write_text("{}")
    assert _paths(legacy) == ["out/current_data_20250603_120000.json"]

    _settle(legacy, legacy / "out")
    (legacy / "out" / "current_data_20250603_120000.json").unlink()
    (legacy / "out").rmdir()
    assert _paths(legacy) == ["current_data_20250601_120000.json"]
