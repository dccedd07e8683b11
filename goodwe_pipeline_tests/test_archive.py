"""The cold archive: zstd Parquet per local day and device, merged on re-runs, restorable."""

from __future__ import annotations

import shutil
from datetime import date

import pandas as pd
import pyarrow.parquet as pq
import pytest

from goodwe_pipeline.archive.daily_files import Archive, archive_days, restore
from goodwe_pipeline.common import days
from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.raw_store.influx import InfluxRawStore
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline_tests.synthetic_days import constant, make_readings, sine_pv

TZ = "Europe/Warsaw"
DAY = date(2025, 10, 26)  # 25 hours long in Warsaw


def _store_with_days(root, first=DAY, last=DAY) -> tuple[ParquetRawStore, pd.DataFrame]:
    frame = pd.concat(
        [
            make_readings(
                first,
                last,
                TZ,
                cadence_s=60,
                device_id=device,
                pv=sine_pv(2000),
                load=constant(400),
                lifetime_counters=True,
                include_end=False,
            )
            for device in ("SN-A", "SN B/2")
        ],
        ignore_index=True,
    )
    store = ParquetRawStore(root)
    store.write(frame)
    return store, store.read(*days.range_window(first, last, TZ))


def test_archive_holds_each_local_day_per_device_in_zstd(tmp_path) -> None:
    store, stored = _store_with_days(tmp_path / "raw")
    archive = Archive(tmp_path / "archive")
    written = archive_days(store, archive, [DAY], TZ)
    assert {(f.day, f.device_id) for f in written} == {(DAY, "SN-A"), (DAY, "SN B/2")}
    assert all(f.rows == 25 * 60 and f.added == 25 * 60 for f in written)
    path = archive.path(DAY, "SN B/2")
    assert path.parent.name == "2025-10-26"
    metadata = pq.ParquetFile(path).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    pd.testing.assert_frame_equal(archive.read_day(DAY), stored)
    assert not list(path.parent.glob(".*tmp"))


def test_rearchiving_merges_and_never_empties(tmp_path) -> None:
    store, stored = _store_with_days(tmp_path / "raw")
    archive = Archive(tmp_path / "archive")
    archive_days(store, archive, [DAY], TZ)
    # InfluxDB's retention dropped the day: archiving it again must keep the archive.
    shutil.rmtree(tmp_path / "raw")
    assert archive_days(ParquetRawStore(tmp_path / "raw"), archive, [DAY], TZ) == []
    pd.testing.assert_frame_equal(archive.read_day(DAY), stored)
    # A late legacy reading for the day is added, the rest kept.
    extra = stored.iloc[[0]].copy()
    extra["time"] = extra["time"] + pd.Timedelta(seconds=30)
    fresh = ParquetRawStore(tmp_path / "raw")
    fresh.write(extra)
    written = archive_days(fresh, archive, [DAY], TZ)
    assert [(f.device_id, f.added, f.rows) for f in written] == [("SN B/2", 1, 25 * 60 + 1)]
    assert len(archive.read_day(DAY)) == len(stored) + 1


def test_restore_into_parquet_is_idempotent(tmp_path) -> None:
    first, last = date(2025, 6, 9), date(2025, 6, 11)
    store, stored = _store_with_days(tmp_path / "raw", first, last)
    archive = Archive(tmp_path / "archive")
    archive_days(store, archive, list(days.iter_days(first, last)), TZ)
    target = ParquetRawStore(tmp_path / "restored")
    restored = restore(target, archive, date(2025, 6, 10), date(2025, 6, 30))
    assert [(r.day, r.files, r.rows) for r in restored] == [
        (date(2025, 6, 10), 2, 2 * 24 * 60),
        (date(2025, 6, 11), 2, 2 * 24 * 60),
    ]
    window = days.range_window(date(2025, 6, 10), last, TZ)
    once = target.read(*window)
    restore(target, archive, date(2025, 6, 10), last)
    pd.testing.assert_frame_equal(target.read(*window), once)
    expected = stored[(stored["time"] >= window[0]) & (stored["time"] < window[1])]
    pd.testing.assert_frame_equal(once, expected.reset_index(drop=True))
    assert target.read(*days.day_window(first, TZ)).empty


def test_restore_into_influxdb(tmp_path, influx_server, influx_db) -> None:
    store, stored = _store_with_days(tmp_path / "raw")
    archive = Archive(tmp_path / "archive")
    archive_days(store, archive, [DAY], TZ)
    influx = InfluxRawStore(
        RawStoreSettings(influx_url=influx_server.url, influx_db=influx_db, create_database=True)
    )
    restore(influx, archive, DAY, DAY)
    restore(influx, archive, DAY, DAY)
    back = influx.read(*days.day_window(DAY, TZ))
    assert len(back) == len(stored)
    pd.testing.assert_series_equal(back["pv_power_w"], stored["pv_power_w"], check_exact=False)


def test_restore_refuses_a_reversed_range(tmp_path) -> None:
    with pytest.raises(ValueError, match="before it starts"):
        restore(ParquetRawStore(tmp_path / "raw"), Archive(tmp_path / "a"), DAY, date(2025, 1, 1))


def test_a_device_id_too_long_for_a_file_name_is_refused_before_anything_is_written(
    tmp_path,
) -> None:
    _, stored = _store_with_days(tmp_path / "raw")
    too_long = stored.iloc[:3].copy()
    too_long["device_id"] = "x" * 300
    archive = Archive(tmp_path / "archive")
    with pytest.raises(ValueError, match="too long to be a file name"):
        archive.write_day(DAY, pd.concat([stored, too_long], ignore_index=True))
    assert archive.read_day(DAY).empty
    assert [f.device_id for f in archive.write_day(DAY, stored)] == ["SN B/2", "SN-A"]
