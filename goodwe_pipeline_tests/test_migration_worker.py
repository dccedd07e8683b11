"""A migration shared with a second process gives exactly what one process gives: the same
readings in the store, day summaries, file outcomes and counts, wherever the days are split
(the autumn's repeated hour included) and on either raw store; a worker that fails or dies
costs only time."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import date

import dagster as dg
import pandas as pd
import pytest

from goodwe_pipeline.common import days
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.defs.history.assets import legacy_readings
from goodwe_pipeline.defs.history.resources import LegacyResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.history import day_worker
from goodwe_pipeline.history.readings_migration import MigrationResult, migrate_readings
from goodwe_pipeline.history.settings import LegacySettings
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.readings import DEVICE_ID, SOURCE, SOURCE_LEGACY, TIME
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.legacy_corpus import SERIAL, Corpus, write_corpus

TZ = "Europe/Warsaw"
FILE_COLUMNS = ["outcome", "reason", "records", "valid_records", "rejected_records", "device_id"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return write_corpus(tmp_path_factory.mktemp("legacy") / "optimiser")


@dataclasses.dataclass
class Run:
    result: MigrationResult
    readings: pd.DataFrame
    files: pd.DataFrame
    summaries: list[tuple[date, object]]
    log: list[str]


def migrate(
    corpus: Corpus,
    store_settings: RawStoreSettings,
    warehouse_settings: WarehouseSettings,
    open_worker_store: Callable | None,
) -> Run:
    lines: list[str] = []
    settings = LegacySettings(corpus.root, timezone=TZ)
    warehouse = Warehouse.from_settings(warehouse_settings)
    try:
        with open_raw_store(store_settings) as store:
            result = migrate_readings(
                settings,
                store,
                warehouse,
                corpus.first,
                corpus.last,
                log=lines.append,
                open_worker_store=open_worker_store,
            )
            frame = store.read(*days.range_window(corpus.first, corpus.last, TZ))
        files = warehouse.read_frame("SELECT * FROM migration_files ORDER BY path")
        reports = warehouse.read_frame(
            "SELECT report_date, report_data FROM analytics_reports "
            "WHERE report_type = 'legacy_migration' ORDER BY report_date"
        )
    finally:
        warehouse.dispose()
    legacy = frame[frame[SOURCE] == SOURCE_LEGACY].sort_values([DEVICE_ID, TIME])
    return Run(
        result,
        legacy.reset_index(drop=True),
        files.set_index("path")[FILE_COLUMNS],
        list(zip(reports["report_date"], reports["report_data"], strict=True)),
        lines,
    )


def force_split(monkeypatch: pytest.MonkeyPatch, first_worker_day: int | None) -> None:
    """The worker takes the days from position ``first_worker_day`` on (None: no worker)."""
    monkeypatch.setattr(day_worker, "available", lambda: first_worker_day is not None)
    monkeypatch.setattr(day_worker, "split_index", lambda costs: first_worker_day)


def assert_same_run(split: Run, single: Run) -> None:
    pd.testing.assert_frame_equal(split.readings, single.readings)
    pd.testing.assert_frame_equal(split.files, single.files)
    assert split.summaries == single.summaries
    one, other = split.result, single.result
    assert [(d.day, d.report()) for d in one.days] == [(d.day, d.report()) for d in other.days]
    assert [_entry(e) for e in one.files] == [_entry(e) for e in other.files]
    assert one.dst == other.dst
    assert one.reused_snapshot_elements == other.reused_snapshot_elements
    assert one.refused_devices == other.refused_devices
    assert one.readings_written == other.readings_written == len(single.readings)


ENTRY_FIELDS = ("path", "format", "first_us", "last_us", "device_id", "records", "valid_records",
                "rejected_records", "outcome", "reason", "parsed", "skipped")  # fmt: skip


def _entry(entry) -> tuple:
    return tuple(getattr(entry, name) for name in ENTRY_FIELDS)


@pytest.fixture(scope="module")
def single_run(corpus, tmp_path_factory) -> Run:
    data = tmp_path_factory.mktemp("single")
    return migrate(corpus, RawStoreSettings(data_dir=data), WarehouseSettings(data_dir=data), None)


@pytest.mark.parametrize("first_worker_day", [1, 15, 16, 17, 29])
def test_a_split_migration_equals_one_process(
    corpus, single_run, first_worker_day, monkeypatch, tmp_path
):
    autumn = [d for d in corpus.days if days.day_window(d, TZ)[1] - days.day_window(d, TZ)[0]
              != pd.Timedelta(hours=24)]  # fmt: skip
    assert [corpus.days.index(d) for d in autumn] == [16], "the corpus's autumn day moved"
    force_split(monkeypatch, first_worker_day)
    settings = RawStoreSettings(data_dir=tmp_path)
    split = migrate(
        corpus, settings, WarehouseSettings(data_dir=tmp_path), lambda: open_raw_store(settings)
    )
    assert not [line for line in split.log if "did not migrate" in line]
    assert single_run.result.dst, "the corpus has repeated-hour readings to place"
    assert_same_run(split, single_run)


def test_a_split_migration_into_influxdb_and_postgresql_equals_one_process(
    corpus, single_run, influx_server, influx_db, private_postgres_url, monkeypatch, tmp_path
):
    """The worker writes through its own HTTP session while this process keeps its own and
    its PostgreSQL connections, which the fork must leave working."""
    force_split(monkeypatch, 15)
    settings = RawStoreSettings(
        influx_url=influx_server.url, influx_db=influx_db, create_database=True
    )
    split = migrate(
        corpus,
        settings,
        WarehouseSettings(url=private_postgres_url),
        lambda: open_raw_store(settings),
    )
    assert len(split.readings) == len(single_run.readings)
    assert split.files.to_dict() == single_run.files.to_dict()
    assert split.result.readings_written == single_run.result.readings_written
    assert [(d.day, d.report()) for d in split.result.days] == [
        (d.day, d.report()) for d in single_run.result.days
    ]


def _refusing_store():
    raise OSError("connection refused")


def _dying_store():
    os._exit(3)


@pytest.mark.parametrize(
    ("open_worker_store", "why"),
    [(_refusing_store, "OSError: connection refused"), (_dying_store, "exit code 3")],
)
def test_a_worker_that_fails_costs_only_time(
    corpus, single_run, open_worker_store, why, monkeypatch, tmp_path
):
    force_split(monkeypatch, 12)
    split = migrate(
        corpus,
        RawStoreSettings(data_dir=tmp_path),
        WarehouseSettings(data_dir=tmp_path),
        open_worker_store,
    )
    [notice] = [line for line in split.log if "did not migrate" in line]
    assert why in notice and corpus.days[12].isoformat() in notice
    assert_same_run(split, single_run)


class _RefusingParquetStore(ParquetRawStore):
    def write(self, readings_frame: pd.DataFrame) -> int:
        raise ValueError("device refused here")


def test_a_device_only_the_worker_was_refused_rejects_the_files_saved_before(
    corpus, monkeypatch, tmp_path
):
    """Each process saves the rows of files only its days used while the other still works;
    a device the other process's store refused afterwards turns those rows to rejected too,
    as one process would have them."""
    force_split(monkeypatch, 15)
    settings = RawStoreSettings(data_dir=tmp_path)
    run = migrate(
        corpus,
        settings,
        WarehouseSettings(data_dir=tmp_path),
        lambda: _RefusingParquetStore(settings.parquet_root),
    )
    assert set(run.result.refused_devices) == {SERIAL}
    used = run.files[run.files["device_id"] == SERIAL]
    assert len(used) > 100
    assert set(used["outcome"]) == {"rejected"}
    assert used["reason"].str.contains("the raw store refused its device").all()


def test_the_days_are_split_where_this_process_keeps_a_little_more_than_half():
    assert day_worker.split_index([1e6, 1e6, 1e6, 1e6]) == 2
    assert day_worker.split_index([3e6, 1e6, 1e6, 1e6]) == 1
    assert day_worker.split_index([1e6, 1e6, 1e6, 3e6]) == 3
    assert day_worker.split_index([1e6] * 20) == 11, "this process keeps a little more"
    assert day_worker.split_index([1e6, 9e6]) == 1
    assert day_worker.split_index([5e6]) is None
    assert day_worker.split_index([1e3, 1e3, 1e3]) is None, "too little work to share"


def test_migrating_with_a_worker_logs_every_day_once(corpus, monkeypatch, tmp_path):
    force_split(monkeypatch, 10)
    settings = RawStoreSettings(data_dir=tmp_path)
    run = migrate(
        corpus, settings, WarehouseSettings(data_dir=tmp_path), lambda: open_raw_store(settings)
    )
    logged = [line.split(":")[0] for line in run.log]
    assert logged == [d.isoformat() for d in corpus.days]
    assert run.result.timings["worker"] > 0


@pytest.mark.parametrize("second_process", [True, False])
def test_the_asset_shares_a_long_backfill_unless_told_not_to(
    corpus, single_run, second_process, monkeypatch, tmp_path
):
    force_split(monkeypatch, 15)
    result = dg.materialize(
        [legacy_readings],
        resources={
            "legacy": LegacyResource(
                legacy_dir=str(corpus.root), timezone=TZ, second_process=second_process
            ),
            "raw_store": RawStoreResource(data_dir=str(tmp_path)),
            "warehouse": WarehouseResource(data_dir=str(tmp_path)),
        },
        tags={
            "dagster/asset_partition_range_start": corpus.first.isoformat(),
            "dagster/asset_partition_range_end": corpus.last.isoformat(),
        },
    )
    assert result.success
    output = next(
        m
        for m in result.asset_materializations_for_node("legacy_readings")
        if "readings_migrated" in m.metadata
    )
    assert output.metadata["readings_migrated"].value == single_run.result.readings_written
    assert ("worker" in output.metadata["seconds"].value) is second_process
    with open_raw_store(RawStoreSettings(data_dir=tmp_path)) as store:
        frame = store.read(*days.range_window(corpus.first, corpus.last, TZ))
    legacy = frame[frame[SOURCE] == SOURCE_LEGACY].sort_values([DEVICE_ID, TIME])
    pd.testing.assert_frame_equal(legacy.reset_index(drop=True), single_run.readings)
