"""The history migration end to end: a mixed, partly broken legacy folder into both stores."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from goodwe_pipeline.common import days
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.defs.history import checks
from goodwe_pipeline.defs.history.assets import legacy_decisions, legacy_readings
from goodwe_pipeline.defs.history.resources import LegacyResource, legacy_from_env
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.resources import (
    RawStoreResource,
    WarehouseResource,
    raw_store_from_env,
    warehouse_from_env,
)
from goodwe_pipeline.demo.legacy_files import LegacyFolder
from goodwe_pipeline.history.decisions_migration import migrate_decisions
from goodwe_pipeline.history.readings_migration import migrate_readings
from goodwe_pipeline.history.settings import LegacySettings
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.raw_store.prepare import safe_device_id
from goodwe_pipeline.readings import DEVICE_ID, SOURCE, SOURCE_LEGACY, TIME
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.legacy_corpus import (
    SERIAL,
    Corpus,
    flat,
    folder_digest,
    nested,
    reading_at,
    write_big_file,
    write_corpus,
    write_spring_corpus,
)

TZ = "Europe/Warsaw"
CHECKS = [checks.legacy_migration_checks]
LEGACY_TABLES = ("legacy_decisions", "legacy_planned_sessions", "legacy_selling_sessions")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return write_corpus(tmp_path_factory.mktemp("legacy") / "optimiser")


def legacy_in_store(store, first: date, last: date) -> pd.DataFrame:
    start, end = days.range_window(first, last, TZ)
    frame = store.read(start, end)
    frame = frame[frame[SOURCE] == SOURCE_LEGACY].copy()
    frame["day"] = [t.date() for t in pd.to_datetime(frame[TIME], utc=True).dt.tz_convert(TZ)]
    return frame


def table_counts(warehouse: Warehouse) -> dict[str, int]:
    return {
        name: int(warehouse.read_frame(f"SELECT count(*) AS n FROM {name}")["n"].iloc[0])  # noqa: S608
        for name in LEGACY_TABLES
    }


def migration_files(warehouse: Warehouse) -> pd.DataFrame:
    return warehouse.read_frame("SELECT * FROM migration_files ORDER BY path").set_index("path")


def backfill(
    corpus: Corpus,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
    instance: dg.DagsterInstance,
):
    return dg.materialize(
        [legacy_readings, legacy_decisions, *CHECKS],
        instance=instance,
        resources={
            "legacy": LegacyResource(legacy_dir=str(corpus.root), timezone=TZ),
            "raw_store": raw_store,
            "warehouse": warehouse,
            "reports": ReportsResource(),
        },
        tags={
            "dagster/asset_partition_range_start": corpus.first.isoformat(),
            "dagster/asset_partition_range_end": corpus.last.isoformat(),
        },
    )


def formats_table(metadata) -> dict[str, dict[str, int]]:
    """The ``files_by_format`` markdown table as {format: {column: count}}."""
    lines = [line.strip().strip("|") for line in metadata["files_by_format"].value.splitlines()]
    header = [cell.strip() for cell in lines[0].split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.split("|")]
        rows[cells[0]] = {
            name: int(value) for name, value in zip(header[1:], cells[1:], strict=True)
        }
    return rows


def assert_formats_table(metadata) -> None:
    """Every file a first run sees is parsed, the database included."""
    table = formats_table(metadata)
    assert "optimiser_db" in table and len(table) > 1
    for name, row in table.items():
        assert row["parsed"] == row["seen"] > 0, name
        outcomes = ("migrated", "duplicate", "indexed", "rejected")
        assert sum(row[o] for o in outcomes) == row["seen"], name


def assert_exact_readings(frame: pd.DataFrame, corpus: Corpus) -> None:
    assert set(frame[DEVICE_ID]) == {SERIAL}
    assert not frame.duplicated([DEVICE_ID, TIME]).any()
    counts = frame.groupby("day").size().to_dict()
    assert counts == {day: n for day, n in corpus.expected.items() if n}
    for day in corpus.days:
        stored = set(pd.to_datetime(frame.loc[frame["day"] == day, TIME], utc=True))
        want = {pd.Timestamp(t).floor("ms") for t in corpus.instants[day]}
        early = {t for t in want - stored if t - pd.Timedelta(milliseconds=1) in stored}
        assert not early, (
            f"{day}: the store holds {len(early)} readings 1 ms before their time "
            "(float rounding when timestamps are serialised at millisecond precision)"
        )
        assert stored == want, day
    indexed = frame.set_index(pd.to_datetime(frame[TIME], utc=True))
    for moment in corpus.unknown_pv:
        row = indexed.loc[pd.Timestamp(moment).floor("ms")]
        assert math.isnan(row["pv_power_w"]), "Unknown PV power must be missing, not 0"
        assert row["load_power_w"] > 0
    for moment, soc in corpus.string_soc.items():
        assert indexed.loc[pd.Timestamp(moment).floor("ms"), "battery_soc_pct"] == soc


def assert_checks(result, corpus: Corpus) -> None:
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    steps = {
        event.step_key
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert steps == {"legacy_migration_checks"}, "the eight checks share one step and one read"
    assert len(evaluations) == 8
    assert evaluations["readings_physically_possible"].passed
    assert evaluations["legacy_readings_match_sources"].passed
    assert evaluations["legacy_readings_match_sources"].metadata["days_not_matching"].value == 0
    share = evaluations["legacy_rejected_file_share"]
    assert share.passed and 0 < share.metadata["rejected_share"].value < 0.05
    stats = evaluations["legacy_energy_matches_daily_stats"]
    assert not stats.passed and stats.severity == dg.AssetCheckSeverity.WARN
    assert stats.metadata["days_compared"].value == len(corpus.stats_days)
    assert stats.metadata["days_outside_tolerance"].value == len(corpus.stats_mismatch_days)
    [mismatch] = corpus.stats_mismatch_days
    assert mismatch.isoformat() in stats.metadata["comparison"].value


def assert_files(warehouse: Warehouse, corpus: Corpus) -> None:
    files = migration_files(warehouse)
    rejected = files[files["outcome"] == "rejected"]
    assert set(rejected.index) == set(corpus.rejected_files)
    for path, fragment in corpus.rejected_files.items():
        assert fragment in rejected.loc[path, "reason"], path
    assert set(files["outcome"]) <= {"migrated", "duplicate", "rejected", "indexed"}
    assert files.loc["data/goodwe_energy.db", "outcome"] == "migrated"
    assert "1 row(s) with timestamps before 2010" in files.loc["data/goodwe_energy.db", "reason"]


def test_thirty_day_backfill_is_one_run_exact_and_idempotent(stores, corpus):
    raw_store, warehouse = stores.raw_store, stores.warehouse
    before = folder_digest(corpus.root)
    instance = dg.DagsterInstance.ephemeral()

    result = backfill(corpus, raw_store, warehouse, instance)

    assert result.success
    assert len(instance.get_runs()) == 1
    for asset in ("legacy_readings", "legacy_decisions"):
        partitions = {m.partition for m in result.asset_materializations_for_node(asset)}
        assert partitions == {d.isoformat() for d in corpus.days}
    store, wh = raw_store.get_store(), warehouse.get_warehouse()
    try:
        frame = legacy_in_store(store, corpus.first, corpus.last)
        assert_exact_readings(frame, corpus)
        assert_checks(result, corpus)
        assert_files(wh, corpus)
        counts = table_counts(wh)
        assert counts == {
            "legacy_decisions": corpus.decisions,
            "legacy_planned_sessions": corpus.planned,
            "legacy_selling_sessions": corpus.selling,
        }
        files = migration_files(wh)
        metadata = result.asset_materializations_for_node("legacy_readings")[0].metadata
        assert metadata["readings_migrated"].value == sum(corpus.expected.values())
        assert metadata["files_rejected"].value == len(
            [p for p in corpus.rejected_files if "charging_decision" not in p]
        )
        assert_formats_table(metadata)
        assert_formats_table(result.asset_materializations_for_node("legacy_decisions")[0].metadata)

        again = backfill(corpus, raw_store, warehouse, instance)

        assert again.success
        assert_checks(again, corpus)
        rerun = legacy_in_store(store, corpus.first, corpus.last)
        assert len(rerun) == len(frame)
        pd.testing.assert_frame_equal(
            rerun.reset_index(drop=True), frame.reset_index(drop=True), check_like=True
        )
        assert table_counts(wh) == counts
        pd.testing.assert_frame_equal(migration_files(wh), files)
    finally:
        wh.dispose()
    assert folder_digest(corpus.root) == before


def small_corpus(root: Path) -> Corpus:
    return write_corpus(root, date(2025, 10, 10), 4)


def settings_for(corpus: Corpus, **kwargs) -> LegacySettings:
    return LegacySettings(corpus.root, timezone=TZ, **kwargs)


def test_a_day_reads_only_its_own_files_and_rescans_only_changes(tmp_path):
    corpus = small_corpus(tmp_path / "optimiser")
    store = open_raw_store(RawStoreSettings(data_dir=tmp_path / "data"))
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "data"))
    day = corpus.days[1]
    try:
        result = migrate_readings(settings_for(corpus), store, warehouse, day, day)
        assert result.readings_written == corpus.expected[day]
        files = migration_files(warehouse)
        allowed = {f"{d:%Y%m%d}" for d in (day, day + timedelta(days=1))}
        for path in files.index:
            if path.startswith("out/energy_data/current_data_1970") or path.endswith(".db"):
                continue
            assert any(stamp in path for stamp in allowed), f"{path} is not a file of {day}"
        assert len(files) < sum(1 for _ in (corpus.root / "out" / "energy_data").iterdir()) / 2

        named = datetime(day.year, day.month, day.day, 12, 0, 10)
        changed = corpus.root / "out" / "energy_data" / f"current_data_{day:%Y%m%d}_120010.json"
        reading = json.loads(changed.read_text())
        reading["grid"]["voltage"] = 241.5
        LegacyFolder(corpus.root, corpus.tz).current_data(reading, named)
        again = migrate_readings(settings_for(corpus), store, warehouse, day, day)
        assert again.readings_written == corpus.expected[day]
        after = migration_files(warehouse)
        assert (
            after.loc[changed.relative_to(corpus.root).as_posix(), "indexed_at"]
            > files.loc[changed.relative_to(corpus.root).as_posix(), "indexed_at"]
        )
        unchanged = after.index.difference([changed.relative_to(corpus.root).as_posix()])
        pd.testing.assert_series_equal(
            after.loc[unchanged, "indexed_at"], files.loc[unchanged, "indexed_at"]
        )
        moment = pd.Timestamp(datetime_of(reading, corpus)).floor("ms")
        frame = legacy_in_store(store, day, day).set_index(TIME)
        assert frame.loc[moment, "grid_voltage_v"] != 241.5, "the snapshot's copy comes first"
    finally:
        warehouse.dispose()


def datetime_of(reading: dict, corpus: Corpus):
    from goodwe_pipeline.history.timestamps import LocalClock, from_us

    return from_us(LocalClock(corpus.tz).resolve_one(reading["timestamp"])[0])


@pytest.mark.parametrize("policy", ["reject", "shift_forward"])
def test_spring_gap_reading_is_rejected_or_shifted(policy, tmp_path):
    corpus = write_spring_corpus(tmp_path / "optimiser")
    store = open_raw_store(RawStoreSettings(data_dir=tmp_path / "data"))
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "data"))
    try:
        result = migrate_readings(
            settings_for(corpus, nonexistent=policy), store, warehouse, corpus.first, corpus.last
        )
        frame = legacy_in_store(store, corpus.first, corpus.last)
        counts = frame.groupby("day").size().to_dict()
        gap_file = f"out/energy_data/energy_data_{corpus.gap_day.isoformat()}.json"
        row = migration_files(warehouse).loc[gap_file]
    finally:
        warehouse.dispose()
    shifted = pd.Timestamp("2025-03-30T01:30:00", tz="UTC")
    if policy == "reject":
        assert counts == corpus.expected
        assert row["outcome"] == "rejected" and "does not exist" in row["reason"]
        assert result.dst["nonexistent_rejected"] == 1
    else:
        assert counts == {**corpus.expected, corpus.gap_day: corpus.expected[corpus.gap_day] + 1}
        assert shifted in set(pd.to_datetime(frame[TIME], utc=True))
        assert row["outcome"] == "migrated"


def test_fifty_megabyte_file_migrates_and_a_size_limit_rejects_it(tmp_path):
    corpus = small_corpus(tmp_path / "optimiser")
    day = corpus.days[1]
    big = write_big_file(corpus.root, corpus, day, megabytes=50)
    assert big.stat().st_size > 45_000_000
    relative = big.relative_to(corpus.root).as_posix()
    store = open_raw_store(RawStoreSettings(data_dir=tmp_path / "data"))
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "data"))
    try:
        result = migrate_readings(settings_for(corpus), store, warehouse, day, day)
        assert result.readings_written == corpus.expected[day]
        assert result.duplicates > 50_000
        assert migration_files(warehouse).loc[relative, "outcome"] == "duplicate"
        limited = settings_for(corpus, max_file_bytes=10_000_000)
        result = migrate_readings(limited, store, warehouse, day, day)
        assert result.readings_written == corpus.expected[day]
        row = migration_files(warehouse).loc[relative]
        assert row["outcome"] == "rejected" and "exceeds the 10 MB limit" in row["reason"]
    finally:
        warehouse.dispose()
    assert len(legacy_in_store(store, day, day)) == corpus.expected[day]


def test_configured_device_id_names_records_without_a_serial(tmp_path):
    root = tmp_path / "optimiser"
    folder = LegacyFolder(root, TZ)
    folder.daily_array(
        date(2025, 9, 18),
        [flat(reading_at("2025-09-18T12:00:00")), flat(reading_at("2025-09-18T12:10:00"))],
    )
    folder.current_data(nested(reading_at("2025-09-18T12:20:00")), datetime(2025, 9, 18, 12, 20))
    store = open_raw_store(RawStoreSettings(data_dir=tmp_path / "data"))
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "data"))
    day = date(2025, 9, 18)
    try:
        settings = LegacySettings(root, timezone=TZ, device_id="MY-INVERTER")
        result = migrate_readings(settings, store, warehouse, day, day)
        assert result.device_id == "MY-INVERTER"
        detected = migrate_readings(LegacySettings(root, timezone=TZ), store, warehouse, day, day)
        assert detected.device_id == SERIAL and "sampled" in detected.device_source
        decisions = migrate_decisions(settings, warehouse, day, day)
        assert sum(decisions.rows.values()) == 0
    finally:
        warehouse.dispose()
    frame = legacy_in_store(store, day, day)
    assert frame.groupby(DEVICE_ID).size().to_dict() == {"MY-INVERTER": 2, SERIAL: 3}


def test_unset_legacy_folder_fails_with_a_clear_message(tmp_path):
    result = dg.materialize(
        [legacy_readings],
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "legacy": LegacyResource(),
            "raw_store": RawStoreResource(data_dir=str(tmp_path / "data")),
            "warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
        },
        partition_key="2025-10-10",
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "GOODWE_LEGACY_DIR is not set" in str(failure.step_failure_data.error)


def test_options_set_at_launch_keep_what_the_environment_sets(tmp_path, monkeypatch):
    """Dagster fills the fields a launch's config leaves out with their class defaults: the
    documented launchpad option must not forget GOODWE_LEGACY_DIR or GOODWE_TIMEZONE, nor
    one store option the store's place (GOODWE_DATA_DIR here)."""
    corpus = small_corpus(tmp_path / "optimiser")
    data = tmp_path / "from_env"
    monkeypatch.setenv("GOODWE_LEGACY_DIR", str(corpus.root))
    monkeypatch.setenv("GOODWE_TIMEZONE", "America/New_York")
    monkeypatch.setenv("GOODWE_DATA_DIR", str(data))
    result = dg.materialize(
        [legacy_readings],
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "legacy": legacy_from_env(),
            "raw_store": raw_store_from_env(),
            "warehouse": warehouse_from_env(),
        },
        partition_key=corpus.first.isoformat(),
        run_config={
            "resources": {
                "legacy": {"config": {"nonexistent_times": "shift_forward"}},
                "raw_store": {"config": {"timeout_s": 30.0}},
            }
        },
    )
    assert result.success
    settings = LegacyResource(nonexistent_times="shift_forward").get_settings()
    assert (settings.legacy_dir, settings.timezone) == (corpus.root, "America/New_York")
    [first, *_] = result.asset_materializations_for_node("legacy_readings")
    migrated = first.metadata["readings_migrated"].value
    assert migrated > 0
    with open_raw_store(RawStoreSettings(data_dir=data)) as store:
        assert len(store.read(*days.range_window(corpus.first, corpus.last, TZ))) == migrated
    assert (data / "warehouse.sqlite").is_file()


def test_the_legacy_migration_stores_an_odd_serial_under_its_safe_form(tmp_path):
    """A legacy serial ending in a backslash (here the device id flat daily arrays get)
    migrates under its safe form instead of failing the run; it shares ``prepare``."""
    day = date(2025, 9, 17)
    records = [
        flat(
            reading_at(
                f"{day}T{h:02d}:{m:02d}:00", pv=0.0, load=500.0, battery=0.0, grid=-500.0, soc=50.0
            )
        )
        for h in range(2)
        for m in range(0, 60, 5)
    ]
    LegacyFolder(tmp_path / "optimiser", TZ).daily_array(day, records)
    odd = "GW-LEGACY\\"
    store = open_raw_store(RawStoreSettings(data_dir=tmp_path / "data"))
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "data"))
    try:
        migrate_readings(
            LegacySettings(tmp_path / "optimiser", device_id=odd), store, warehouse, day, day
        )
    finally:
        warehouse.dispose()
    start, end = days.day_window(day, TZ)
    assert store.devices(start, end) == [safe_device_id(odd)] == ["~GW-LEGACY%5C"]
    assert len(store.read(start, end)) == len(records)
