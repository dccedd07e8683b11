"""``electricity_prices`` and ``battery_sessions`` materialized against real stores.

Parquet files + SQLite, and InfluxDB + PostgreSQL; answers known by construction.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest

from goodwe_pipeline.defs.prices.assets import electricity_prices
from goodwe_pipeline.defs.prices.resources import PricesResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.defs.sessions import assets as session_assets
from goodwe_pipeline.defs.sessions import checks
from goodwe_pipeline.defs.sessions.assets import battery_sessions
from goodwe_pipeline.defs.sessions.resources import SessionsResource
from goodwe_pipeline.sessions.detection import session_id
from goodwe_pipeline_tests.conftest import StorePair
from goodwe_pipeline_tests.session_days import TZ, Segment, at, next_day, readings

DAY = date(2025, 6, 10)
G11 = 0.0892 + 0.3200
SESSION_CHECKS = [
    checks.sessions_do_not_overlap,
    checks.session_energy_within_capacity,
    checks.soc_moves_with_session_kind,
]


@dataclass(frozen=True)
class Stores(StorePair):
    def write(self, frame: pd.DataFrame) -> None:
        assert self.raw_store.get_store().write(frame) == len(frame)

    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        with self.warehouse.get_warehouse() as warehouse:
            return warehouse.read_frame(sql, params)

    def forget(self, first: date, last: date) -> None:
        """Remove what earlier tests left for these days (PostgreSQL lives for the session)."""
        params = {"first": first - timedelta(days=1), "last": last + timedelta(days=1)}
        with self.warehouse.get_warehouse() as warehouse:
            for table, column in (
                ("battery_sessions", "partition_date"),
                ("electricity_prices", "partition_date"),
                ("legacy_planned_sessions", "plan_date"),
            ):
                warehouse.execute(
                    f"DELETE FROM {table} WHERE {column} >= :first AND {column} <= :last",  # noqa: S608 (fixed names)
                    params,
                )


@pytest.fixture
def stores(stores: StorePair) -> Stores:
    """The shared store pair (``conftest.stores``), with this module's helpers."""
    return Stores(stores.raw_store, stores.warehouse, stores.data_dir)


@pytest.fixture
def embedded(tmp_path) -> Stores:
    return Stores(
        RawStoreResource(data_dir=str(tmp_path)),
        WarehouseResource(data_dir=str(tmp_path)),
        tmp_path,
    )


def partition_args(first: date, last: date | None = None) -> dict:
    if last is None or last == first:
        return {"partition_key": first.isoformat()}
    return {
        "tags": {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
    }


def run_prices(stores: Stores, source: str, first: date, last: date | None = None):
    result = dg.materialize(
        [electricity_prices],
        resources={"prices": PricesResource(source=source), "warehouse": stores.warehouse},
        instance=dg.DagsterInstance.ephemeral(),
        **partition_args(first, last),
    )
    assert result.success
    return result


def run_sessions(
    stores: Stores, first: date, last: date | None = None, *, capacity_kwh: float = 10.0, **kwargs
):
    return dg.materialize(
        [battery_sessions, *SESSION_CHECKS],
        resources={
            "raw_store": stores.raw_store,
            "warehouse": stores.warehouse,
            "sessions": SessionsResource(battery_capacity_kwh=capacity_kwh),
        },
        instance=dg.DagsterInstance.ephemeral(),
        **partition_args(first, last),
        **kwargs,
    )


def sessions_of(stores: Stores, first: date, last: date) -> pd.DataFrame:
    return stores.query(
        "SELECT * FROM battery_sessions WHERE partition_date >= :first AND partition_date <= :last "
        "ORDER BY start_time",
        {"first": first, "last": last},
    )


def checks_passed(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_prices_then_sessions_cost_what_the_tariff_says_and_reruns_do_not_duplicate(
    stores, tmp_path
):
    stores.forget(DAY, next_day(DAY))
    hours = [(d, h) for d in (DAY, next_day(DAY)) for h in range(24)]
    csv = tmp_path / "prices.csv"
    csv.write_text(
        "time_start,market_pln_mwh,rce_pln_mwh\n"
        + "".join(f"{d} {h:02d}:00,{200 if h in (2, 3) else 600},150\n" for d, h in hours)
    )
    stores.write(
        readings(
            at(DAY, "00:00"),
            at(next_day(DAY), "06:00"),
            [
                Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0),
                Segment(at(DAY, "19:00"), at(DAY, "20:00"), battery_w=3000.0, grid_w=1000.0),
            ],
            cadence_s=30.0,
        )
    )
    for _ in range(2):
        run_prices(stores, f"csv:{csv}", DAY, next_day(DAY))
        result = run_sessions(stores, DAY)
        assert result.success
        assert checks_passed(result) == dict.fromkeys(
            [
                "sessions_do_not_overlap",
                "session_energy_within_capacity",
                "soc_moves_with_session_kind",
            ],
            True,
        )

    cheap, dear, sell = (0.2 + G11) * 1.23, (0.6 + G11) * 1.23, 0.15
    found = sessions_of(stores, DAY, DAY)
    assert found["kind"].tolist() == ["charge", "discharge"]
    charge, discharge = found.iloc[0], found.iloc[1]
    assert charge["session_id"] == session_id("SN-TEST", at(DAY, "02:00"))
    assert charge["energy_kwh"] == pytest.approx(4.0)
    assert charge["cost_pln"] == pytest.approx(4.0 * cheap)
    assert charge["avg_price_pln_kwh"] == pytest.approx(cheap)
    assert (charge["soc_start"], charge["soc_end"]) == (pytest.approx(20.0), pytest.approx(60.0))
    assert discharge["energy_kwh"] == pytest.approx(3.0)
    assert discharge["grid_energy_kwh"] == pytest.approx(1.0)
    assert discharge["value_pln"] == pytest.approx(2.0 * dear + 1.0 * sell)
    assert set(found["status"]) == {"completed"}
    assert stores.query("SELECT COUNT(*) AS n FROM electricity_prices")["n"][0] == 192

    view = stores.query(
        "SELECT * FROM charging_sessions WHERE session_id = :id", {"id": charge["session_id"]}
    )
    assert view["energy_charged_kwh"].tolist() == pytest.approx([4.0])
    assert view["total_cost_pln"].tolist() == pytest.approx([4.0 * cheap])

    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["sessions"].value == 2
    assert metadata["charge_cost_pln"].value == pytest.approx(round(4.0 * cheap, 2))
    listed = metadata["sessions_list"].value.records
    assert [r.data["kind"] for r in listed] == ["charge", "discharge"]
    assert listed[0].data["charge %"] == "20 → 60"


def test_a_single_run_range_handles_dst_and_sessions_over_midnight(stores):
    first, last = date(2025, 3, 29), date(2025, 3, 31)
    stores.forget(first, last)
    stores.write(
        readings(
            at(first, "00:00"),
            at(next_day(last), "06:00"),
            [
                Segment(at(first, "23:00"), at(next_day(first), "00:30"), battery_w=-2000.0),
                Segment(
                    at(date(2025, 3, 30), "04:00"), at(date(2025, 3, 30), "05:00"), battery_w=2000.0
                ),
                Segment(at(last, "02:00"), at(last, "04:00"), battery_w=-2000.0),
            ],
            cadence_s=30.0,
        )
    )
    run_prices(stores, "fixed:0.5", first, next_day(last))
    for _ in range(2):
        result = run_sessions(stores, first, last)
        assert result.success
        events = result.get_asset_materialization_events()
        assert sorted({e.partition for e in events}) == ["2025-03-29", "2025-03-30", "2025-03-31"]
        per_day = {
            e.partition: e.materialization.metadata
            for e in events
            if "sessions" in e.materialization.metadata
        }
        assert {d: m["sessions"].value for d, m in per_day.items()} == {
            "2025-03-29": 1,
            "2025-03-30": 1,
            "2025-03-31": 1,
        }
        assert per_day["2025-03-29"]["charged_kwh"].value == pytest.approx(3.0)
        assert per_day["2025-03-30"]["discharged_kwh"].value == pytest.approx(2.0)
        assert per_day["2025-03-31"]["charged_kwh"].value == pytest.approx(4.0)
        assert len(events) == 3, "one materialization per day"
        assert {m["run_days"].value for m in per_day.values()} == {3}
        assert all(checks_passed(result).values())
    found = sessions_of(stores, first, last)
    assert [str(d) for d in found["partition_date"]] == ["2025-03-29", "2025-03-30", "2025-03-31"]
    assert found["kind"].tolist() == ["charge", "discharge", "charge"]
    assert found["energy_kwh"].tolist() == pytest.approx([3.0, 2.0, 4.0])
    buy = (0.5 + G11) * 1.23
    assert found["cost_pln"].iloc[0] == pytest.approx(3.0 * buy)
    assert found["value_pln"].iloc[1] == pytest.approx(2.0 * 0.5)  # all exported, sold at 0.5


def test_reading_past_midnight_completes_a_session_in_place(embedded):
    charge = Segment(at(DAY, "23:00"), at(next_day(DAY), "00:30"), battery_w=-2000.0)
    run_prices(embedded, "fixed:0.5", DAY, next_day(DAY))
    embedded.write(readings(at(DAY, "00:00"), at(DAY, "23:30"), [charge]))
    assert run_sessions(embedded, DAY).success
    before = sessions_of(embedded, DAY, next_day(DAY))
    assert before["energy_kwh"].tolist() == pytest.approx([1.0])

    embedded.write(readings(at(DAY, "23:30"), at(next_day(DAY), "02:00"), [charge], soc_start=30.0))
    assert run_sessions(embedded, DAY).success
    after = sessions_of(embedded, DAY, next_day(DAY))
    assert after["session_id"].tolist() == before["session_id"].tolist()
    assert after["energy_kwh"].tolist() == pytest.approx([3.0])
    assert after["end_time"].tolist() == [pd.Timestamp(at(next_day(DAY), "00:30"))]


def as_of(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Run ``battery_sessions`` as the schedules would at ``moment``."""
    monkeypatch.setattr(session_assets, "clock", lambda: moment.astimezone(UTC))


def test_a_charge_over_midnight_left_open_by_the_night_run_is_completed_by_the_next_days_runs(
    stores, monkeypatch
):
    """The schedules run a day once after midnight (00:30), then only the next day hourly.

    The charge starts at 17:00, before the 6 hours the next day's runs read anyway.
    """
    day, after = date(2025, 7, 14), date(2025, 7, 15)
    stores.forget(day, after)
    run_prices(stores, "fixed:0.5", day, after)
    charge = Segment(at(day, "17:00"), at(after, "03:00"), battery_w=-800.0)
    frame = readings(at(day, "00:00"), at(after, "08:00"), [charge])
    written = at(day, "00:00")

    def run_at(moment: datetime, partition: date):
        nonlocal written
        stores.write(frame[(frame["time"] >= written) & (frame["time"] < moment)])
        written = max(written, moment)
        as_of(monkeypatch, moment)
        result = run_sessions(stores, partition)
        assert result.success
        assert all(checks_passed(result).values())
        return result.get_asset_materialization_events()[0].materialization.metadata

    run_at(at(after, "00:30"), day)  # nightly_reports of ``day``
    (night,) = sessions_of(stores, day, after).itertuples()
    assert (night.status, night.partition_date) == ("open", day)
    assert night.energy_kwh == pytest.approx(7.5 * 0.8)

    metadata = run_at(at(after, "02:05"), after)  # hourly_reports, charge still running
    (hourly,) = sessions_of(stores, day, after).itertuples()
    assert (hourly.session_id, hourly.status) == (night.session_id, "open")
    assert hourly.energy_kwh == pytest.approx((9 + 5 / 60) * 0.8)  # 17:00 to 02:05
    assert metadata["earlier_sessions_continued"].value == 1
    assert metadata["earlier_sessions_completed"].value == 0

    metadata = run_at(at(after, "08:05"), after)  # hourly_reports after the charge ended
    done = sessions_of(stores, day, after)
    assert len(done) == 1
    s = done.iloc[0]
    assert (s["session_id"], s["partition_date"], s["status"]) == (
        session_id("SN-TEST", at(day, "17:00")),
        day,
        "completed",
    )
    assert s["energy_kwh"] == pytest.approx(8.0)
    assert s["end_time"] == pd.Timestamp(at(after, "03:00"))
    assert s["cost_pln"] == pytest.approx(8.0 * (0.5 + G11) * 1.23)
    assert (s["soc_start"], s["soc_end"]) == (pytest.approx(20.0), pytest.approx(100.0))
    assert metadata["sessions"].value == 0
    assert metadata["earlier_sessions_completed"].value == 1

    metadata = run_at(at(after, "09:05"), after)  # and again: nothing changes
    pd.testing.assert_frame_equal(sessions_of(stores, day, after), done)
    assert metadata["earlier_sessions_continued"].value == 0


def test_a_session_still_running_now_is_open(embedded):
    now = datetime.now(UTC).replace(microsecond=0)
    started = now - timedelta(minutes=30)
    day = started.astimezone(ZoneInfo(TZ)).date()
    embedded.write(
        readings(
            now - timedelta(minutes=40),
            now - timedelta(seconds=20),
            [Segment(started, now, battery_w=-2000.0)],
        )
    )
    result = run_sessions(embedded, day)
    assert result.success
    found = sessions_of(embedded, day, day)
    assert found["status"].tolist() == ["open"]
    assert found["energy_kwh"].iloc[0] == pytest.approx(2.0 * (1800 - 20) / 3600)
    assert found["cost_pln"].isna().all()  # no prices for today were materialized
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["open_sessions"].value == 1
    assert event.materialization.metadata["sessions_without_prices"].value == 1


def test_checks_catch_impossible_sessions(embedded):
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    frame = readings(at(DAY, "00:00"), at(next_day(DAY), "00:00"), [charge])
    frame["battery_soc_pct"] = 100.0 - frame["battery_soc_pct"]  # SOC falling while charging
    embedded.write(frame)
    with embedded.warehouse.get_warehouse() as warehouse:
        warehouse.upsert(
            "battery_sessions",
            [
                {
                    "session_id": "stale",
                    "device_id": "SN-TEST",
                    "kind": "charge",
                    "start_time": at(DAY - timedelta(days=1), "23:00"),
                    "end_time": at(DAY, "02:30"),
                    "energy_kwh": 5.0,
                    "status": "completed",
                    "partition_date": DAY - timedelta(days=1),
                }
            ],
        )
    result = run_sessions(embedded, DAY, capacity_kwh=3.0, raise_on_error=False)
    assert result.success  # the checks warn about the data, they do not lose it
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name: e.passed for name, e in evaluations.items()} == {
        "sessions_do_not_overlap": False,
        "session_energy_within_capacity": False,
        "soc_moves_with_session_kind": False,
    }
    assert evaluations["session_energy_within_capacity"].metadata[
        "limit_kwh"
    ].value == pytest.approx(3.6)
    assert evaluations["soc_moves_with_session_kind"].severity == dg.AssetCheckSeverity.WARN
    overlap = evaluations["sessions_do_not_overlap"].metadata
    assert overlap["overlapping"].value == 1
    assert session_id("SN-TEST", at(DAY, "02:00")) in overlap["examples"].value


def test_plans_of_the_day_are_compared_with_what_happened(embedded):
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    embedded.write(readings(at(DAY, "00:00"), at(next_day(DAY), "00:00"), [charge]))
    run_prices(embedded, "fixed:0.5", DAY)
    with embedded.warehouse.get_warehouse() as warehouse:
        warehouse.upsert(
            "legacy_planned_sessions",
            [
                {
                    "plan_date": DAY,
                    "session_id": "20250610_1",
                    "start_time": at(DAY, "01:30"),
                    "end_time": at(DAY, "03:30"),
                    "target_energy_kwh": 5.0,
                    "estimated_cost_pln": 2.5,
                    "status": "completed",
                    "source": "test",
                }
            ],
        )
    result = run_sessions(embedded, DAY)
    (event,) = result.get_asset_materialization_events()
    table = event.materialization.metadata["planned_vs_actual"].value
    (line,) = [row for row in table.splitlines() if "20250610_1" in row]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    buy = (0.5 + G11) * 1.23
    assert cells[1] == "01:30–03:30"
    assert float(cells[2]) == 5.0 and float(cells[3]) == 2.5 and float(cells[4]) == 0.5
    assert int(cells[5]) == 1
    assert float(cells[6]) == pytest.approx(4.0)
    assert float(cells[7]) == pytest.approx(round(4.0 * buy, 2))
    assert float(cells[8]) == pytest.approx(round(buy, 3))
    assert (
        cells[9] == f"took 0.8x the planned energy; paid {buy / 0.5:.1f}x the planned price per kWh"
    )


def test_a_day_whose_readings_are_gone_keeps_its_sessions(embedded):
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    embedded.write(readings(at(DAY, "00:00"), at(next_day(DAY), "00:00"), [charge]))
    assert run_sessions(embedded, DAY).success
    shutil.rmtree(embedded.data_dir / "raw")
    result = run_sessions(embedded, DAY)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["days_without_readings"].value == 1
    assert len(sessions_of(embedded, DAY, DAY)) == 1


def test_sessions_that_no_longer_exist_are_removed_on_rerun(embedded):
    segments = [
        Segment(at(DAY, "02:00"), at(DAY, "03:00"), battery_w=-2000.0),
        Segment(at(DAY, "03:08"), at(DAY, "04:00"), battery_w=-2000.0),
    ]
    embedded.write(readings(at(DAY, "00:00"), at(next_day(DAY), "00:00"), segments))
    assert run_sessions(embedded, DAY).success
    assert len(sessions_of(embedded, DAY, DAY)) == 2
    merged = dg.materialize(
        [battery_sessions],
        resources={
            "raw_store": embedded.raw_store,
            "warehouse": embedded.warehouse,
            "sessions": SessionsResource(merge_gap_s=900.0),
        },
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=DAY.isoformat(),
    )
    assert merged.success
    found = sessions_of(embedded, DAY, DAY)
    assert found["energy_kwh"].tolist() == pytest.approx([2.0 + 2.0 * 52 / 60])
    assert found["session_id"].tolist() == [session_id("SN-TEST", at(DAY, "02:00"))]
