"""The repeated autumn hour is placed from evidence: the regression of the issue (an SQLite row
holding the second occurrence placed at the first) and a property over any missing records."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goodwe_pipeline.common import days
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.history.mapping import NAN
from goodwe_pipeline.history.placement import Timeline
from goodwe_pipeline.history.readings_migration import migrate_readings
from goodwe_pipeline.history.settings import LegacySettings
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.readings import FIELD_NAMES, SOURCE, SOURCE_LEGACY, TIME
from goodwe_pipeline.reports.daily import daily_energy
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.autumn_day import (
    DAY,
    INVALID,
    SOURCES,
    TZ,
    Reading,
    true_readings,
    truth,
    write_autumn_day,
)

READINGS = truth()
TRUE = true_readings(READINGS)
COMPARED = ("battery_soc_pct", "load_power_w", "load_energy_total_kwh", "grid_import_total_kwh")


def migrate(root: Path, data: Path):
    store = open_raw_store(RawStoreSettings(data_dir=data))
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=data))
    try:
        result = migrate_readings(LegacySettings(root, timezone=TZ), store, warehouse, DAY, DAY)
        files = warehouse.read_frame("SELECT * FROM migration_files").set_index("path")
    finally:
        warehouse.dispose()
    frame = store.read(*days.range_window(DAY, DAY, TZ))
    return result, frame[frame[SOURCE] == SOURCE_LEGACY].reset_index(drop=True), files


def stored(frame: pd.DataFrame) -> dict[datetime, pd.Series]:
    return {pd.Timestamp(row[TIME]).to_pydatetime(): row for _, row in frame.iterrows()}


def assert_true_values(found: dict[datetime, pd.Series]) -> None:
    """Every stored reading is a true one, with that instant's values."""
    extra = sorted(set(found) - set(TRUE))
    assert not extra, f"readings at instants that have none: {extra[:3]}"
    for moment, row in found.items():
        for name in COMPARED:
            if not pd.isna(row[name]):
                assert row[name] == TRUE[moment][name], (moment, name, row[name])


def integrated_kwh(readings: list[Reading], field: str, sign: float = 1.0) -> float:
    """The truth's energy: each reading's power held for its minute."""
    return sum(max(sign * r.values[field], 0.0) for r in readings) / 60_000


def test_the_autumn_day_migrates_exactly_and_its_energy_matches_integration(tmp_path):
    root = write_autumn_day(tmp_path / "optimiser", READINGS)

    result, frame, files = migrate(root, tmp_path / "data")

    found = stored(frame)
    assert len(found) == len(TRUE) == 1497
    assert set(found) == set(TRUE)
    assert_true_values(found)
    assert READINGS[INVALID].utc not in found, "the first 02:03 was invalid: its place stays empty"
    assert result.rejected_records >= 1
    energy = daily_energy(frame, pd.DataFrame(), [DAY], TZ).days.iloc[0]
    day_readings = READINGS[:-1]
    for column, field, sign in (
        ("load_kwh", "load_power_w", 1.0),
        ("grid_import_kwh", "grid_power_w", -1.0),
    ):
        truth_kwh = integrated_kwh(day_readings, field, sign)
        assert abs(energy[column] - truth_kwh) <= 0.005 * truth_kwh, (column, energy[column])
    database = files.loc["data/goodwe_energy.db"]
    assert database["outcome"] == "duplicate", "every row it holds is in the daily array"


def test_a_keyed_source_alone_never_places_a_repeated_hour_row_at_the_first_occurrence(tmp_path):
    """Only the SQLite table (the second occurrence kept): its repeated-hour rows cannot be
    told apart by order, so they are placed by counters or rejected with a reason."""
    drop = {"daily": set(range(len(READINGS))), "coordinator": set(range(len(READINGS)))}
    root = write_autumn_day(tmp_path / "optimiser", READINGS, drop)

    result, frame, files = migrate(root, tmp_path / "data")

    found = stored(frame)
    assert_true_values(found)
    first_occurrence = {r.utc for r in READINGS[120:180]}
    assert not first_occurrence & set(found)
    assert result.dst["ambiguous_rejected"] == 60
    reason = files.loc["data/goodwe_energy.db", "reason"]
    assert "repeated autumn hour" in reason


indexes = st.integers(min_value=100, max_value=260)
drops = st.one_of(
    st.sets(indexes, max_size=120),
    st.just(set(range(120, 180))),
    st.just(set(range(180, 240))),
    st.just(set(range(len(READINGS)))),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({source: drops for source in SOURCES}))
def test_migrated_readings_are_a_subset_of_the_true_ones_whatever_is_missing(drop):
    with tempfile.TemporaryDirectory() as folder:
        root = write_autumn_day(Path(folder) / "optimiser", READINGS, drop)
        _, frame, _ = migrate(root, Path(folder) / "data")
    assert_true_values(stored(frame))


def test_counters_place_a_reading_only_where_exactly_one_occurrence_fits():
    load = FIELD_NAMES.index("load_energy_total_kwh")

    def values(total: float) -> list[float]:
        row = [NAN] * len(FIELD_NAMES)
        row[load] = total
        return row

    minute = 60_000_000
    proven = {("inv", k * minute): values(100 + 0.01 * k) for k in (0, 1, 3, 60, 61, 63)}
    timeline = Timeline(proven.items())
    assert timeline.place("inv", 2 * minute, 62 * minute, values(100.02)) == (2 * minute, None)
    assert timeline.place("inv", 2 * minute, 62 * minute, values(100.62)) == (62 * minute, None)
    assert "neither" in timeline.place("inv", 2 * minute, 62 * minute, values(150.0))[1]
    flat = Timeline({("inv", k * minute): values(100.0) for k in (0, 63)}.items())
    assert "both" in flat.place("inv", 2 * minute, 62 * minute, values(100.0))[1]
    assert "no lifetime counter" in timeline.place("other", 2 * minute, 62 * minute, values(1))[1]
