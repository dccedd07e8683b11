"""The readings checks guard migrated history too, and the checks' pure comparisons.

The backfill tests run the code location's own asset job over a real legacy folder, as
``dagster asset materialize --select legacy_readings,battery_sessions,daily_energy_report
--partition-range A...B`` does: the checks of the selected assets run in the same run.
"""

from __future__ import annotations

import math
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.definitions import defs as load_defs
from goodwe_pipeline.defs.history.checks import last_migration
from goodwe_pipeline.defs.partitions import RECENT_DAYS, checked_days, recent_days
from goodwe_pipeline.demo.legacy_files import LegacyFolder
from goodwe_pipeline.history.mapping import map_record
from goodwe_pipeline.history.stats import (
    compare_daily_stats,
    daily_stats_files,
    migrated_only,
    rejected_file_share,
    source_mismatches,
)
from goodwe_pipeline.readings import FIELD_NAMES, SOURCE, SOURCE_LEGACY
from goodwe_pipeline.reports.quality import (
    SEVERE_CHANGES_PER_DAY,
    Limits,
    counter_disagreements,
    implausible_changes,
    impossible_masks,
    unbalanced_days,
)
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.legacy_corpus import flat, reading_at
from goodwe_pipeline_tests.synthetic_days import constant, make_readings

TZ = "Europe/Warsaw"
FIRST = date(2025, 9, 17)
LAST = date(2025, 9, 18)
DEVICE = "SN-LEGACY-QA"
BACKFILLED = ("legacy_readings", "battery_sessions", "daily_energy_report")
IMPOSSIBLE_PV_W = 95_000.0
"""Beyond 3 x the default 10 kW rated power, yet a number the legacy parser accepts."""


def legacy_day(
    day: date, *, impossible_at: int | None = None, soc_jump_at: int | None = None
) -> list[dict]:
    """A flat daily array every 5 minutes: PV half-sine, 500 W load, 2 kW grid charging
    02:00-04:00 (the battery charge rising from 30 to 70 %, back by 23:00 as the house
    drains it); reading ``impossible_at`` reports ``IMPOSSIBLE_PV_W`` of PV, reading
    ``soc_jump_at`` a battery charge of 99 %."""
    records = []
    for k in range(288):
        moment = datetime(day.year, day.month, day.day) + timedelta(minutes=5 * k)
        hour = k / 12
        pv = max(0.0, 4000 * math.sin(math.pi * (hour - 6) / 12)) if 6 < hour < 18 else 0.0
        battery = -2000.0 if 2 <= hour < 4 else 0.0
        values = {
            "pv": IMPOSSIBLE_PV_W if k == impossible_at else round(pv, 1),
            "load": 500.0,
            "battery": battery,
            "grid": round(pv + battery - 500.0, 1),
            "soc": 99.0
            if k == soc_jump_at
            else 30.0
            + 40.0 * min(max((hour - 2) / 2, 0.0), 1.0)
            - 40.0 * min(max((hour - 19) / 4, 0.0), 1.0),
            "import_total": None,
            "export_total": None,
        }
        records.append(flat(reading_at(moment.isoformat(), **values)))
    return records


def write_legacy_folder(root: Path, *, impossible: bool, soc_jump: bool = False) -> Path:
    folder = LegacyFolder(root, TZ)
    for day in (FIRST, LAST):
        records = legacy_day(
            day,
            impossible_at=150 if impossible and day == LAST else None,
            soc_jump_at=12 if soc_jump and day == LAST else None,
        )
        folder.daily_array(day, records)
    return root


def backfill(legacy_dir: Path, monkeypatch, instance: dg.DagsterInstance):
    monkeypatch.setenv("GOODWE_LEGACY_DIR", str(legacy_dir))
    monkeypatch.setenv("GOODWE_LEGACY_DEVICE_ID", DEVICE)
    job = load_defs().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(name) for name in BACKFILLED],
        tags={
            "dagster/asset_partition_range_start": FIRST.isoformat(),
            "dagster/asset_partition_range_end": LAST.isoformat(),
        },
        raise_on_error=False,
    )


def check_legacy_readings_alone(instance: dg.DagsterInstance):
    """Every check of ``legacy_readings`` without materializing it, as "Execute" on its
    **Checks** tab does: no partition, so the checks look at the latest migration's days."""
    job = load_defs().resolve_implicit_global_asset_job_def()
    keys = job.asset_layer.asset_graph.asset_check_keys
    checks = {k for k in keys if k.asset_key == dg.AssetKey("legacy_readings")}
    subset = job.get_subset(asset_selection=set(), asset_check_selection=checks)
    return subset.execute_in_process(instance=instance, raise_on_error=False)


def materialized(result) -> set[tuple[str, str]]:
    events = (
        e.event_specific_data.materialization for e in result.get_asset_materialization_events()
    )
    return {(m.asset_key.to_user_string(), m.partition) for m in events}


def legacy_checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        e.check_name: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey("legacy_readings")
    }


def rows_of(table: str) -> int:
    with Warehouse.from_settings(WarehouseSettings(data_dir=os.environ["GOODWE_DATA_DIR"])) as wh:
        return int(
            wh.read_frame(
                f"SELECT COUNT(*) AS n FROM {table} WHERE device_id = :d",  # noqa: S608 - fixed names
                {"d": DEVICE},
            )["n"].iloc[0]
        )


def test_history_backfill_checks_the_migrated_readings_then_computes(tmp_path, monkeypatch) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = backfill(
        write_legacy_folder(tmp_path / "optimiser", impossible=False), monkeypatch, instance
    )

    assert result.success
    checks = legacy_checks(result)
    for name in (
        "readings_physically_possible",
        "readings_cover_the_day",
        "readings_have_unique_timestamps",
        "lifetime_counters_never_decrease",
        "readings_change_plausibly",
    ):
        assert checks[name].passed, name
        assert checks[name].metadata["days"].value == f"{FIRST}..{LAST}"
    assert checks["readings_cover_the_day"].metadata["worst_coverage_pct"].value == 100.0
    assert materialized(result) == {(a, d.isoformat()) for a in BACKFILLED for d in (FIRST, LAST)}
    assert rows_of("daily_energy") == 2
    assert rows_of("battery_sessions") == 2  # the 4 kWh grid charge of each night

    alone = dg.build_asset_check_context(instance=instance)
    assert last_migration(alone) == (FIRST, LAST)
    assert checked_days(alone) == recent_days()
    assert (recent_days()[1] - recent_days()[0]).days == RECENT_DAYS - 1

    checks_alone = check_legacy_readings_alone(instance)
    assert checks_alone.success
    assert not checks_alone.get_asset_materialization_events(), "no re-migration"
    evaluations = legacy_checks(checks_alone)
    assert len(evaluations) == 8
    assert evaluations["readings_physically_possible"].metadata["days"].value == f"{FIRST}..{LAST}"
    assert evaluations["legacy_readings_match_sources"].passed


def test_impossible_migrated_value_blocks_sessions_and_report(tmp_path, monkeypatch) -> None:
    record = legacy_day(LAST, impossible_at=150)[150]
    _, _, rejected = map_record(record)
    assert rejected is None, "the parser must accept it, or the check would have nothing to do"

    result = backfill(
        write_legacy_folder(tmp_path / "optimiser", impossible=True),
        monkeypatch,
        dg.DagsterInstance.ephemeral(),
    )

    assert not result.success
    migration = result.asset_materializations_for_node("legacy_readings")[0].metadata
    assert migration["rejected_records"].value == 0
    impossible = legacy_checks(result)["readings_physically_possible"]
    assert not impossible.passed and impossible.severity == dg.AssetCheckSeverity.ERROR
    assert impossible.metadata["impossible_values"].value == 1
    assert impossible.metadata["by_field"].value == {"pv_power_w": 1}
    examples = impossible.metadata["examples"].value
    assert SOURCE_LEGACY in examples and "95000" in examples
    assert materialized(result) == {("legacy_readings", d.isoformat()) for d in (FIRST, LAST)}
    assert rows_of("daily_energy") == 0
    assert rows_of("battery_sessions") == 0


def test_a_severe_migrated_charge_jump_blocks_sessions_and_report(tmp_path, monkeypatch) -> None:
    """At 01:00 the migrated battery charge reads 99 % between two 30 % readings five
    minutes apart: the legacy readings check fails (severe), naming both instants."""
    result = backfill(
        write_legacy_folder(tmp_path / "optimiser", impossible=False, soc_jump=True),
        monkeypatch,
        dg.DagsterInstance.ephemeral(),
    )
    assert not result.success
    plausible = legacy_checks(result)["readings_change_plausibly"]
    assert not plausible.passed and plausible.severity == dg.AssetCheckSeverity.ERROR
    assert plausible.metadata["implausible_changes"].value == 2
    assert plausible.metadata["severe_changes"].value == 2
    instants = plausible.metadata["instants"].value
    assert "battery_soc_pct" in instants and SOURCE_LEGACY in instants
    assert legacy_checks(result)["readings_physically_possible"].passed
    assert rows_of("daily_energy") == 0


def _series(values: list[float], field: str, *, cadence_s: float = 60.0) -> pd.DataFrame:
    frame = make_readings(FIRST, FIRST, TZ, cadence_s=cadence_s, load=constant(500))
    frame = frame.iloc[: len(values)].copy()
    frame[field] = values
    return frame


def test_implausible_changes_counter_steps_back_within_a_day_not_at_a_reset() -> None:
    frame = _series(
        [2074.60, 2074.62, 2075.09, 2074.64, 2074.66, 0.01, 0.02], "load_energy_total_kwh"
    )
    changes = implausible_changes(frame, [FIRST], TZ, Limits(), 10.0)
    assert len(changes) == 1, "the drop to 0.01 is a reset"
    row = changes.iloc[0]
    assert row["field"] == "load_energy_total_kwh" and not row["severe"]
    assert (row["previous"], row["value"]) == (2075.09, 2074.64)
    assert pd.Timestamp(row["time"]) == frame["time"].iloc[3]
    assert pd.Timestamp(row["previous_time"]) == frame["time"].iloc[2]


@pytest.mark.parametrize(
    ("jump", "flagged", "severe"),
    [(3.0, False, False), (19.3, True, False), (40.0, True, True)],
)
def test_implausible_changes_battery_charge_faster_than_its_power(jump, flagged, severe) -> None:
    """10 kW for one minute moves 1.67 % of a 10 kWh battery; with the 2-point slack a
    change above 3.67 points is implausible, 25 points beyond that severe."""
    frame = _series([71.6, 71.6 + jump, 72.2], "battery_soc_pct")
    changes = implausible_changes(frame, [FIRST], TZ, Limits(), 10.0)
    assert len(changes) == (2 if flagged else 0)
    if flagged:
        assert changes["allowed_change"].iloc[0] == pytest.approx(100 * 10 / 60 / 10 + 2)
        assert list(changes["severe"]) == [severe, severe]
    slow = _series([71.6, 71.6 + jump, 72.2], "battery_soc_pct", cadence_s=3600.0)
    assert implausible_changes(slow, [FIRST], TZ, Limits(), 10.0).empty, "an hour allows 100 %"


def test_many_small_implausible_changes_in_a_day_are_severe() -> None:
    values = [50.0, 55.0] * (SEVERE_CHANGES_PER_DAY // 2 + 1)
    changes = implausible_changes(_series(values, "battery_soc_pct"), [FIRST], TZ, Limits(), 10.0)
    assert len(changes) >= SEVERE_CHANGES_PER_DAY and changes["severe"].all()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("battery_voltage_v", -1e300),
        ("battery_voltage_v", 1500.0),
        ("battery_current_a", 5000.0),
        ("grid_voltage_v", -1.0),
        ("grid_frequency_hz", 400.0),
        ("battery_soh_pct", 101.0),
        ("load_energy_total_kwh", -0.5),
        ("pv_energy_today_kwh", 1e6),
        ("work_mode", -3.0),
        ("inverter_clock_skew_s", 1e300),
    ],
)
def test_every_field_has_a_physical_range(field: str, value: float) -> None:
    frame = _series([1.0, 1.0], "battery_mode")
    frame.loc[frame.index[1], field] = value
    masks = impossible_masks(frame, Limits())
    assert set(masks) == set(FIELD_NAMES)
    assert [name for name, mask in masks.items() if mask.any()] == [field]
    assert masks[field].tolist() == [False, True]


def test_unbalanced_days_skip_tiny_days() -> None:
    daily = pd.DataFrame(
        {
            "day": [FIRST, LAST, LAST],
            "pv_kwh": [10.0, 10.0, 0.2],
            "grid_import_kwh": [2.0, 2.0, 0.0],
            "battery_discharge_kwh": [1.0, 1.0, 0.0],
            "load_kwh": [12.0, 8.0, 0.1],
            "grid_export_kwh": [0.5, 0.5, 0.0],
            "battery_charge_kwh": [0.5, 0.5, 0.0],
            "balance_error_pct": [0.0, 30.8, 50.0],
        }
    )
    bad = unbalanced_days(daily)
    assert list(bad.index) == [1]


def test_counter_disagreements_compare_only_well_covered_sizeable_energies() -> None:
    def document(coverage: float, counter: float | None, integrated: float | None) -> dict:
        return {
            "quality": {"coverage_pct": coverage},
            "sources": {
                "pv": {"counter_kwh": counter, "integrated_kwh": integrated},
                "load": {"counter_kwh": 0.5, "integrated_kwh": 0.1},
            },
        }

    comparison = counter_disagreements(
        [
            (FIRST, "A", document(100.0, 13.0, 10.0)),
            (FIRST, "B", document(100.0, 10.5, 10.0)),
            (LAST, "A", document(80.0, 20.0, 10.0)),
            (LAST, "B", document(100.0, None, 10.0)),
        ]
    )
    assert comparison.compared == 2
    [row] = comparison.disagreements
    assert (row["day"], row["device"], row["energy"]) == (str(FIRST), "A", "pv")
    assert row["difference_pct"] == pytest.approx(100 * 3 / 13)


def test_source_mismatches_and_rejected_share() -> None:
    migrated = make_readings(FIRST, FIRST, TZ, cadence_s=3600, device_id="A", load=constant(1))
    migrated[SOURCE] = SOURCE_LEGACY
    assert len(migrated) == 25  # midnight to midnight, both ends
    summaries = {
        FIRST: {"expected": {"A": 24}, "files": {"daily_array": 2}, "rejected_files": {}},
        LAST + timedelta(days=1): {
            "expected": {},
            "files": {"daily_array": 1, "snapshot": 2},
            "rejected_files": {"snapshot": 1},
        },
    }
    rows = source_mismatches(summaries, migrated, FIRST, LAST, TZ)
    assert rows == [{"day": str(LAST), "device": "A", "in sources": "not migrated", "in store": 1}]
    migrated.loc[migrated.index[:3], SOURCE] = "inverter"
    rows = source_mismatches(summaries, migrated_only(migrated), FIRST, FIRST, TZ)
    assert rows == [{"day": str(FIRST), "device": "A", "in sources": 24, "in store": 21}]

    share = rejected_file_share(summaries.values())
    assert (share.files, share.rejected) == (5, 1)
    assert share.share == pytest.approx(0.2)
    assert share.by_format.set_index("format").loc["snapshot"].tolist() == [2, 1]


def test_daily_stats_comparison_reads_the_folder(tmp_path) -> None:
    folder = LegacyFolder(tmp_path, TZ)
    readings = make_readings(FIRST, LAST, TZ, cadence_s=60, device_id="A", load=constant(500))
    readings[SOURCE] = SOURCE_LEGACY

    def stats(day: date, load_kwh: float) -> None:
        document = {
            "date": day.isoformat(),
            "pv_production": {"total_kwh": 0.0},
            "house_consumption": {"total_kwh": load_kwh},
        }
        folder.daily_stats(day, document)

    stats(FIRST, 12.0)
    stats(LAST, 15.0)
    folder.daily_stats(LAST + timedelta(days=1), "{broken")
    files = daily_stats_files(tmp_path, FIRST, LAST)
    assert sorted(files) == [FIRST, LAST]

    comparison = compare_daily_stats(files, readings, TZ)
    loads = {r["day"]: r for r in comparison.rows if r["quantity"] == "load"}
    assert loads[str(FIRST)]["ok"] and loads[str(FIRST)]["migrated_kwh"] == pytest.approx(12.0)
    assert not loads[str(LAST)]["ok"]
    assert [r["day"] for r in comparison.failing] == [str(LAST)]
    assert comparison.unreadable == []

    broken = daily_stats_files(tmp_path, LAST + timedelta(days=1), LAST + timedelta(days=1))
    unreadable = compare_daily_stats(broken, readings.iloc[:0], TZ).unreadable
    assert len(unreadable) == 1 and "daily_stats" in unreadable[0]["file"]
