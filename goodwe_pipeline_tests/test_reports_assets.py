"""Reports, trends, archive, checks and schedules, run by Dagster against
real stores: Parquet files for readings, SQLite or PostgreSQL for the warehouse."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline.archive.daily_files import Archive, archive_root
from goodwe_pipeline.common import days
from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.definitions import defs as load_defs
from goodwe_pipeline.defs.reports.assets import daily_energy_report, energy_trends
from goodwe_pipeline.defs.reports.checks import (
    counters_agree_with_integration,
    energy_balance_within_10_pct,
)
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.reports.schedules import (
    hourly_reports,
    nightly_reports,
    yesterday_prices_if_missing,
)
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.reports.daily import daily_energy
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.synthetic_days import (
    constant,
    flat_prices,
    make_readings,
    sine_pv,
    window,
)

TZ = "Europe/Warsaw"
FIRST = date(2025, 6, 9)
LAST = date(2025, 6, 10)
RANGE_TAGS = {
    "dagster/asset_partition_range_start": FIRST.isoformat(),
    "dagster/asset_partition_range_end": LAST.isoformat(),
}


@pytest.fixture
def backend(warehouse_url, monkeypatch) -> str:
    """The shared ``warehouse_url``: PostgreSQL through the environment, SQLite as the default."""
    if warehouse_url.startswith("sqlite"):
        return "sqlite"
    monkeypatch.setenv("GOODWE_WAREHOUSE_URL", warehouse_url)
    return "postgres"


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["GOODWE_DATA_DIR"])


@pytest.fixture
def warehouse(data_dir) -> Iterator[Warehouse]:
    wh = Warehouse.from_settings(
        WarehouseSettings(url=os.environ.get("GOODWE_WAREHOUSE_URL"), data_dir=data_dir)
    )
    yield wh
    wh.dispose()


def _battery(hours: np.ndarray) -> np.ndarray:
    return window(-2000, 2, 4)(hours) + window(1000, 19, 21)(hours)


def _soc(hours: np.ndarray) -> np.ndarray:
    rising = np.clip((hours - 2) / 2, 0, 1) * 40
    falling = np.clip((hours - 19) / 2, 0, 1) * 20
    return 30 + rising - falling


def write_days(data_dir: Path, device: str, first: date = FIRST, last: date = LAST) -> pd.DataFrame:
    frame = make_readings(
        first,
        last,
        TZ,
        cadence_s=30,
        device_id=device,
        pv=sine_pv(4000),
        load=constant(500),
        battery=_battery,
        soc=_soc,
        lifetime_counters=True,
        include_end=False,
    )
    ParquetRawStore(data_dir / "raw").write(frame)
    return frame


def price_frame(first: date = FIRST, last: date = LAST) -> pd.DataFrame:
    prices = flat_prices(
        first - timedelta(days=1),
        last + timedelta(days=1),
        TZ,
        lambda h: np.where(h < 6, 0.5, 1.0),
        constant(0.2),
    )
    prices["zone"] = "PL"
    prices["source"] = "fixed:test"
    prices["partition_date"] = prices["time_start"].dt.tz_convert(TZ).dt.date
    return prices


def count(wh: Warehouse, sql: str, **params) -> int:
    return int(wh.read_frame(sql, params).iloc[0, 0])


def nightly_job():
    return load_defs().resolve_job_def("nightly_reports_job")


def _prices_run_started(instance: dg.DagsterInstance, day: str) -> None:
    """A run of ``yesterday_prices_if_missing`` for ``day``, still going."""
    instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id=uuid.uuid4().hex,
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/schedule_name": "yesterday_prices_if_missing", "dagster/partition": day},
        )
    )


def test_nightly_job_range_run_writes_reports_trends_archive_and_is_idempotent(
    backend, data_dir, warehouse
) -> None:
    device = f"SN-{uuid.uuid4().hex[:8]}"
    readings = write_days(data_dir, device)
    prices = price_frame()
    warehouse.upsert("electricity_prices", prices)

    instance = dg.DagsterInstance.ephemeral()
    result = nightly_job().execute_in_process(instance=instance, tags=RANGE_TAGS)
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["readings_physically_possible"].passed
    assert checks["readings_cover_the_day"].passed
    assert checks["energy_balance_within_10_pct"].passed
    assert checks["counters_agree_with_integration"].passed

    rows = warehouse.read_frame(
        "SELECT * FROM daily_energy WHERE device_id = :d ORDER BY day", {"d": device}
    )
    assert [pd.Timestamp(d).date() for d in rows["day"]] == [FIRST, LAST]
    expected = daily_energy(readings, prices, [FIRST, LAST], TZ).days
    for column in ("pv_kwh", "load_kwh", "import_cost_pln", "savings_pln", "soc_min", "soc_max"):
        assert rows[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=1e-9)
    assert rows["battery_charge_kwh"].to_numpy() == pytest.approx([4.0, 4.0])
    assert rows["battery_discharge_kwh"].to_numpy() == pytest.approx([2.0, 2.0])
    assert set(rows["energy_source"]) == {"counters"}
    version = rows["config_version"].iloc[0]
    config = warehouse.read_frame(
        "SELECT config_data FROM system_configs WHERE config_name = 'pipeline' AND version = :v",
        {"v": version},
    )
    assert len(config) == 1
    assert config["config_data"].iloc[0]["report"]["rated_power_w"] == 10000.0

    def snapshot() -> dict[str, int]:
        return {
            "daily_energy": count(
                warehouse, "SELECT COUNT(*) FROM daily_energy WHERE device_id = :d", d=device
            ),
            "daily": count(
                warehouse,
                "SELECT COUNT(*) FROM analytics_reports WHERE device_id = :d "
                "AND report_type = 'daily'",
                d=device,
            ),
            "trends": count(
                warehouse,
                "SELECT COUNT(*) FROM analytics_reports WHERE device_id = :d "
                "AND report_type LIKE 'trend_%'",
                d=device,
            ),
            "sessions": count(
                warehouse, "SELECT COUNT(*) FROM battery_sessions WHERE device_id = :d", d=device
            ),
            "configs": count(
                warehouse, "SELECT COUNT(*) FROM system_configs WHERE config_name = 'pipeline'"
            ),
        }

    first_counts = snapshot()
    assert first_counts["daily_energy"] == 2 and first_counts["daily"] == 2
    assert first_counts["trends"] == 6
    assert first_counts["sessions"] == 4
    document = warehouse.read_frame(
        "SELECT report_data FROM analytics_reports WHERE device_id = :d AND report_type = 'daily' "
        "AND report_date = :day",
        {"d": device, "day": LAST},
    )["report_data"].iloc[0]
    assert document["figures"]["battery_charge_kwh"] == pytest.approx(4.0)
    assert len(document["hours"]["start"]) == 24
    assert sum(document["hours"]["battery_charge_kwh"]) == pytest.approx(4.0)
    trend = warehouse.read_frame(
        "SELECT report_data FROM analytics_reports WHERE device_id = :d "
        "AND report_type = 'trend_7d' AND report_date = :day",
        {"d": device, "day": LAST},
    )["report_data"].iloc[0]
    assert trend["figures"]["production_kwh"]["days"] == 2
    assert trend["figures"]["charge_vs_import_price"]["charge_energy_kwh"] == pytest.approx(8.0)

    archive = Archive(archive_root(data_dir))
    assert archive.days() == [FIRST, LAST]
    archived = archive.read_day(LAST)
    window_start, window_end = days.day_window(LAST, TZ)
    in_day = readings[(readings["time"] >= window_start) & (readings["time"] < window_end)]
    assert len(archived) == len(in_day)

    materialized = {
        (e.asset_key.to_user_string(), e.partition)
        for e in result.get_asset_materialization_events()
        for e in [e.event_specific_data.materialization]
    }
    for asset in ("daily_energy_report", "energy_trends", "raw_archive", "battery_sessions"):
        assert (asset, LAST.isoformat()) in materialized

    again = nightly_job().execute_in_process(instance=instance, tags=RANGE_TAGS)
    assert again.success
    assert snapshot() == first_counts
    assert len(archive.read_day(LAST)) == len(in_day)


def _run_hourly(data_dir: Path, warehouse: Warehouse, readings: pd.DataFrame):
    ParquetRawStore(data_dir / "raw").write(readings)
    warehouse.upsert("electricity_prices", price_frame(LAST, LAST))
    job = load_defs().resolve_job_def("hourly_reports_job")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=LAST.isoformat(),
        raise_on_error=False,
    )
    return result, {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_impossible_reading_blocks_sessions_and_report_in_the_same_run(data_dir, warehouse) -> None:
    device = f"SN-{uuid.uuid4().hex[:8]}"
    readings = write_days(data_dir, device, LAST, LAST)
    bad = readings.iloc[[500]].copy()
    bad["battery_soc_pct"] = 180.0
    result, checks = _run_hourly(data_dir, warehouse, bad)
    assert not result.success
    impossible = checks["readings_physically_possible"]
    assert not impossible.passed
    assert impossible.metadata["impossible_values"].value == 1
    assert not result.get_asset_materialization_events()
    assert count(warehouse, "SELECT COUNT(*) FROM daily_energy WHERE device_id = :d", d=device) == 0
    assert (
        count(warehouse, "SELECT COUNT(*) FROM battery_sessions WHERE device_id = :d", d=device)
        == 0
    )


def _minute_day(device: str, load_w: float, soc) -> pd.DataFrame:
    """A day of readings every minute: a constant load, the battery charge ``soc``."""
    return make_readings(
        LAST,
        LAST,
        TZ,
        cadence_s=60,
        device_id=device,
        load=constant(load_w),
        soc=soc,
        lifetime_counters=True,
        include_end=False,
    )


def test_a_reading_placed_at_the_wrong_instant_warns_with_its_instants(data_dir, warehouse) -> None:
    """The issue's reading: battery charge 90.9 % between 71.6 and 72.2 %, the load counter
    0.47 kWh above its neighbours for one reading. The check warns naming both instants
    (not blocking: not severe), and the report does not count the counter's excursion."""
    device = f"SN-{uuid.uuid4().hex[:8]}"
    readings = _minute_day(device, 530.0, lambda h: 71.6 + 0.3 * h / 24)
    clean = daily_energy(readings, price_frame(LAST, LAST), [LAST], TZ).days
    at = readings.index[180]
    readings.loc[at, "battery_soc_pct"] = 90.9
    readings.loc[at, "load_energy_total_kwh"] += 0.47
    result, checks = _run_hourly(data_dir, warehouse, readings)
    assert result.success
    plausible = checks["readings_change_plausibly"]
    assert not plausible.passed and plausible.severity == dg.AssetCheckSeverity.WARN
    assert plausible.metadata["implausible_changes"].value == 3
    assert plausible.metadata["severe_changes"].value == 0
    instants = plausible.metadata["instants"].value
    spike = readings.loc[at, "time"].isoformat()
    after = readings.loc[readings.index[181], "time"].isoformat()
    assert spike in instants and after in instants and "load_energy_total_kwh" in instants
    rows = warehouse.read_frame(
        "SELECT load_kwh FROM daily_energy WHERE device_id = :d", {"d": device}
    )
    assert rows["load_kwh"].iloc[0] == pytest.approx(clean["load_kwh"].iloc[0], abs=1e-9)


def test_severe_charge_jumps_block_sessions_and_report(data_dir, warehouse) -> None:
    device = f"SN-{uuid.uuid4().hex[:8]}"
    readings = _minute_day(device, 500.0, constant(50.0))
    readings.loc[readings.index[600], "battery_soc_pct"] = 95.0
    result, checks = _run_hourly(data_dir, warehouse, readings)
    assert not result.success
    plausible = checks["readings_change_plausibly"]
    assert not plausible.passed and plausible.severity == dg.AssetCheckSeverity.ERROR
    assert plausible.metadata["severe_changes"].value == 2
    assert "blocked" in (plausible.description or "")
    assert count(warehouse, "SELECT COUNT(*) FROM daily_energy WHERE device_id = :d", d=device) == 0


def test_a_battery_voltage_of_minus_1e300_is_impossible(data_dir, warehouse) -> None:
    device = f"SN-{uuid.uuid4().hex[:8]}"
    readings = write_days(data_dir, device, LAST, LAST)
    bad = readings.iloc[[500]].copy()
    bad["battery_voltage_v"] = -1e300
    result, checks = _run_hourly(data_dir, warehouse, bad)
    assert not result.success
    impossible = checks["readings_physically_possible"]
    assert not impossible.passed
    assert impossible.metadata["by_field"].value == {"battery_voltage_v": 1}
    assert "battery_voltage_v" in impossible.metadata["examples"].value


def test_report_checks_catch_an_unbalanced_day(data_dir, warehouse) -> None:
    """Load counters 30 % high: the balance check fails and counters disagree with powers."""
    device = f"SN-{uuid.uuid4().hex[:8]}"
    readings = make_readings(
        LAST, LAST, TZ, cadence_s=30, device_id=device, load=constant(800), lifetime_counters=True
    )
    readings["load_energy_total_kwh"] = 1000 + (readings["load_energy_total_kwh"] - 1000) * 1.3
    ParquetRawStore(data_dir / "raw").write(readings)
    result = dg.materialize(
        [daily_energy_report, energy_balance_within_10_pct, counters_agree_with_integration],
        partition_key=LAST.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "raw_store": RawStoreResource(data_dir=str(data_dir)),
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
            "reports": ReportsResource(),
        },
    )
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    balance = checks["energy_balance_within_10_pct"]
    assert not balance.passed and balance.severity == dg.AssetCheckSeverity.ERROR
    agreement = checks["counters_agree_with_integration"]
    assert not agreement.passed and agreement.severity == dg.AssetCheckSeverity.WARN
    assert agreement.metadata["disagreements"].value == 1


def evaluate(schedule, instance, local_time: datetime, warehouse_resource=None):
    """Evaluate ``schedule`` at ``local_time``; the context is closed afterwards (it opens
    the instance from its reference, which must not outlive the test)."""
    resources = {"warehouse": warehouse_resource} if warehouse_resource else None
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=local_time, resources=resources
    ) as context:
        return schedule(context)


@pytest.fixture
def instance(tmp_path) -> Iterator[dg.DagsterInstance]:
    """A persistent instance in a temporary folder (schedule contexts need an instance
    reference, which an ephemeral instance lacks)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    test_instance = dg.DagsterInstance.local_temp(str(home))
    yield test_instance
    test_instance.dispose()


def test_schedules_request_the_right_partitions(data_dir, warehouse, instance) -> None:
    resource = WarehouseResource(data_dir=str(data_dir))
    after_midnight = datetime(2025, 6, 11, 0, 5, tzinfo=ZoneInfo(TZ))

    request = evaluate(yesterday_prices_if_missing, instance, after_midnight, resource)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2025-06-10"
    warehouse.upsert("electricity_prices", price_frame(LAST, LAST))
    skipped = evaluate(yesterday_prices_if_missing, instance, after_midnight, resource)
    assert isinstance(skipped, dg.SkipReason)

    half_past = datetime(2025, 6, 11, 0, 30, tzinfo=ZoneInfo(TZ))
    request = evaluate(nightly_reports, instance, half_past, resource)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2025-06-10"
    instance.add_run(
        dg.DagsterRun(
            job_name="nightly_reports_job",
            run_id=uuid.uuid4().hex,
            status=dg.DagsterRunStatus.SUCCESS,
            tags={"dagster/schedule_name": "nightly_reports", "dagster/partition": "2025-06-10"},
        )
    )
    assert isinstance(evaluate(nightly_reports, instance, half_past, resource), dg.SkipReason)

    # A prices run still going for yesterday makes the night's reports wait, until 05:30.
    _prices_run_started(instance, "2025-06-12")
    next_night = datetime(2025, 6, 13, 0, 30, tzinfo=ZoneInfo(TZ))
    waiting = evaluate(nightly_reports, instance, next_night, resource)
    assert isinstance(waiting, dg.SkipReason) and "waiting" in waiting.skip_message
    last_try = datetime(2025, 6, 13, 5, 30, tzinfo=ZoneInfo(TZ))
    request = evaluate(nightly_reports, instance, last_try, resource)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2025-06-12"

    for moment, expected in (
        (datetime(2025, 6, 10, 13, 5, tzinfo=ZoneInfo(TZ)), "2025-06-10"),
        (datetime(2025, 3, 30, 0, 5, tzinfo=ZoneInfo(TZ)), "2025-03-30"),
        (datetime(2025, 10, 26, 23, 5, tzinfo=ZoneInfo(TZ)), "2025-10-26"),
    ):
        request = evaluate(hourly_reports, instance, moment)
        assert request.partition_key == expected


def test_schedules_run_by_default_in_local_time() -> None:
    definitions = load_defs()
    for name in ("yesterday_prices_if_missing", "nightly_reports", "hourly_reports"):
        schedule = definitions.resolve_schedule_def(name)
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert schedule.execution_timezone == TZ


def test_days_without_readings_write_nothing_and_keep_earlier_reports(data_dir, warehouse) -> None:
    """A re-run after InfluxDB's retention dropped the readings must not erase the report."""
    resources = {
        "raw_store": RawStoreResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(data_dir=str(data_dir)),
        "reports": ReportsResource(),
    }
    device = f"SN-{uuid.uuid4().hex[:8]}"
    write_days(data_dir, device, LAST, LAST)
    first = dg.materialize(
        [daily_energy_report, energy_trends],
        partition_key=LAST.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
        resources=resources,
    )
    assert first.success
    before = warehouse.read_frame("SELECT * FROM daily_energy WHERE device_id = :d", {"d": device})
    assert len(before) == 1
    shutil.rmtree(data_dir / "raw")
    again = dg.materialize(
        [daily_energy_report, energy_trends],
        partition_key=LAST.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
        resources=resources,
    )
    assert again.success
    metadata = again.asset_materializations_for_node("daily_energy_report")[0].metadata
    assert metadata["rows_written"].value == 0 and metadata["days_without_readings"].value == 1
    after = warehouse.read_frame("SELECT * FROM daily_energy WHERE device_id = :d", {"d": device})
    pd.testing.assert_frame_equal(after, before)


def add_night_run(instance, day: str, status: dg.DagsterRunStatus) -> None:
    instance.add_run(
        dg.DagsterRun(
            job_name="nightly_reports_job",
            run_id=uuid.uuid4().hex,
            status=status,
            tags={"dagster/schedule_name": "nightly_reports", "dagster/partition": day},
        )
    )


def test_a_failed_night_is_retried_at_the_next_hour(data_dir, instance) -> None:
    resource = WarehouseResource(data_dir=str(data_dir))
    first_try = datetime(2025, 6, 11, 0, 30, tzinfo=ZoneInfo(TZ))
    request = evaluate(nightly_reports, instance, first_try, resource)
    assert isinstance(request, dg.RunRequest)
    add_night_run(instance, "2025-06-10", dg.DagsterRunStatus.FAILURE)
    add_night_run(instance, "2025-06-10", dg.DagsterRunStatus.CANCELED)

    next_hour = datetime(2025, 6, 11, 1, 30, tzinfo=ZoneInfo(TZ))
    retry = evaluate(nightly_reports, instance, next_hour, resource)
    assert isinstance(retry, dg.RunRequest) and retry.partition_key == "2025-06-10"
    assert retry.run_key != request.run_key  # the daemon drops a request whose run key was used

    for day, status in (
        ("2025-06-11", dg.DagsterRunStatus.STARTING),
        ("2025-06-12", dg.DagsterRunStatus.STARTED),
    ):
        add_night_run(instance, day, status)
        moment = datetime.combine(
            date.fromisoformat(day) + timedelta(days=1), datetime.min.time()
        ).replace(hour=2, minute=30, tzinfo=ZoneInfo(TZ))
        skipped = evaluate(nightly_reports, instance, moment, resource)
        assert isinstance(skipped, dg.SkipReason) and "running" in skipped.skip_message


def test_schedules_request_their_runs_when_the_warehouse_is_down(instance) -> None:
    """Whether prices are complete cannot be told: the run is requested (and will report the
    outage) rather than the tick failing and nothing running at all."""
    down = WarehouseResource(url="postgresql://goodwe:pw@127.0.0.1:9/goodwe")
    after_midnight = datetime(2025, 6, 11, 0, 5, tzinfo=ZoneInfo(TZ))
    request = evaluate(yesterday_prices_if_missing, instance, after_midnight, down)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2025-06-10"

    _prices_run_started(instance, "2025-06-10")
    half_past = datetime(2025, 6, 11, 0, 30, tzinfo=ZoneInfo(TZ))
    request = evaluate(nightly_reports, instance, half_past, down)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2025-06-10"
