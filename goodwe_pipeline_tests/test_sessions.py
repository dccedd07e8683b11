"""Battery-session detection on synthetic days whose answers are known by construction."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline.readings import empty_frame
from goodwe_pipeline.sessions.detection import (
    SESSION_COLUMNS,
    SessionConfig,
    days_with_readings,
    detect_sessions,
    overlapping_sessions,
    planned_vs_actual,
    session_id,
    sessions_beyond_capacity,
    sessions_of_run,
    soc_against_kind,
    stale_session_ids,
)
from goodwe_pipeline_tests.session_days import (
    TZ,
    Segment,
    at,
    later,
    next_day,
    quarter_prices,
    readings,
)

DAY = date(2025, 6, 10)
SPRING = date(2025, 3, 30)
AUTUMN = date(2025, 10, 26)


def day_start(day: date = DAY):
    return at(day, "00:00")


def day_end(day: date = DAY):
    return at(next_day(day), "00:00")


def detect(frame, prices=None, *, data_end=None, config=None, day: date = DAY):
    if prices is None:
        prices = quarter_prices(
            day_start(day) - timedelta(days=1), day_end(day) + timedelta(days=1)
        )
    return detect_sessions(frame, prices, tz=TZ, data_end=data_end or day_end(day), config=config)


def test_grid_charge_at_a_known_price_is_one_session_costing_exactly_that():
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    frame = readings(day_start(), day_end(), [charge])
    prices = quarter_prices(
        day_start(), day_end(), buy=1.25, special=[(at(DAY, "02:00"), at(DAY, "04:00"), 0.65, 0.3)]
    )
    found = detect(frame, prices)
    assert list(found.columns) == list(SESSION_COLUMNS)
    assert len(found) == 1
    s = found.iloc[0]
    assert s["kind"] == "charge"
    assert s["start_time"] == pd.Timestamp(at(DAY, "02:00"))
    assert s["end_time"] == pd.Timestamp(at(DAY, "04:00"))
    assert s["duration_s"] == 7200.0
    assert s["energy_kwh"] == pytest.approx(4.0, abs=1e-9)
    assert s["grid_energy_kwh"] == pytest.approx(4.0, abs=1e-9)
    assert s["pv_energy_kwh"] == pytest.approx(0.0, abs=1e-9)
    assert s["cost_pln"] == pytest.approx(4.0 * 0.65, abs=1e-9)
    assert s["avg_price_pln_kwh"] == pytest.approx(0.65, abs=1e-12)
    assert np.isnan(s["value_pln"])
    assert s["soc_start"] == pytest.approx(20.0)
    assert s["soc_end"] == pytest.approx(60.0)
    assert s["status"] == "completed"
    assert s["partition_date"] == DAY
    assert s["energy_source"] == "counters"
    assert s["session_id"] == session_id("SN-TEST", at(DAY, "02:00"))


def test_price_weighted_average_follows_the_quarter_hours():
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    prices = quarter_prices(
        day_start(),
        day_end(),
        special=[
            (at(DAY, "02:00"), at(DAY, "03:00"), 0.50, 0.2),
            (at(DAY, "03:00"), at(DAY, "04:00"), 0.70, 0.2),
        ],
    )
    s = detect(readings(day_start(), day_end(), [charge]), prices).iloc[0]
    assert s["cost_pln"] == pytest.approx(2 * 0.50 + 2 * 0.70)
    assert s["avg_price_pln_kwh"] == pytest.approx(0.60)


def test_negative_prices_make_a_charge_earn_money():
    charge = Segment(at(DAY, "13:00"), at(DAY, "14:00"), battery_w=-3000.0)
    prices = quarter_prices(
        day_start(), day_end(), special=[(at(DAY, "13:00"), at(DAY, "14:00"), -0.20, -0.25)]
    )
    s = detect(readings(day_start(), day_end(), [charge]), prices).iloc[0]
    assert s["cost_pln"] == pytest.approx(-0.60)


def test_charge_shares_grid_and_pv_by_interval():
    # 2 kW into the battery while PV gives 1.5 kW and the grid 0.5 kW.
    mixed = Segment(
        at(DAY, "10:00"), at(DAY, "11:00"), battery_w=-2000.0, grid_w=-500.0, pv_w=1500.0
    )
    # 3 kW into the battery from 5 kW of PV, 2 kW exported: all PV.
    solar = Segment(
        at(DAY, "12:00"), at(DAY, "13:00"), battery_w=-3000.0, grid_w=2000.0, pv_w=5000.0
    )
    prices = quarter_prices(day_start(), day_end(), buy=1.0, sell=0.4)
    found = detect(readings(day_start(), day_end(), [mixed, solar]), prices)
    assert len(found) == 2
    first, second = found.iloc[0], found.iloc[1]
    assert first["grid_energy_kwh"] == pytest.approx(0.5)
    assert first["pv_energy_kwh"] == pytest.approx(1.5)
    assert first["cost_pln"] == pytest.approx(0.5 * 1.0 + 1.5 * 0.4)
    assert second["grid_energy_kwh"] == pytest.approx(0.0)
    assert second["pv_energy_kwh"] == pytest.approx(3.0)
    assert second["cost_pln"] == pytest.approx(3.0 * 0.4)


def test_discharge_value_is_displaced_import_plus_export():
    # 3 kW out of the battery: 2 kW to the house, 1 kW exported.
    evening = Segment(at(DAY, "19:00"), at(DAY, "20:00"), battery_w=3000.0, grid_w=1000.0)
    prices = quarter_prices(day_start(), day_end(), buy=1.1, sell=0.45)
    s = detect(readings(day_start(), day_end(), [evening], soc_start=80.0), prices).iloc[0]
    assert s["kind"] == "discharge"
    assert s["energy_kwh"] == pytest.approx(3.0)
    assert s["grid_energy_kwh"] == pytest.approx(1.0)
    assert np.isnan(s["pv_energy_kwh"])
    assert np.isnan(s["cost_pln"])
    assert s["value_pln"] == pytest.approx(2.0 * 1.1 + 1.0 * 0.45)
    assert s["avg_price_pln_kwh"] == pytest.approx((2.0 * 1.1 + 1.0 * 0.45) / 3.0)
    assert s["soc_start"] == pytest.approx(80.0)
    assert s["soc_end"] == pytest.approx(50.0)


def test_short_idle_and_missing_data_merge_but_are_not_integrated():
    segments = [
        Segment(at(DAY, "02:00"), at(DAY, "02:30"), battery_w=-2000.0),
        # 3 minutes idle: the same session.
        Segment(at(DAY, "02:33"), at(DAY, "03:00"), battery_w=-2000.0),
        Segment(at(DAY, "03:00"), at(DAY, "04:00"), battery_w=-2000.0),
    ]
    # 4 minutes without readings while charging: merged, but never integrated over.
    gap = (at(DAY, "03:20"), at(DAY, "03:24"))
    found = detect(readings(day_start(), day_end(), segments, counters=False, gaps=[gap]))
    assert len(found) == 1
    s = found.iloc[0]
    charging_s = 7200 - 180 - 240
    assert s["energy_kwh"] == pytest.approx(2.0 * charging_s / 3600.0)
    assert s["energy_source"] == "integrated"
    assert s["duration_s"] == 7200.0


def test_longer_idle_or_the_other_kind_splits_sessions():
    segments = [
        Segment(at(DAY, "02:00"), at(DAY, "02:30"), battery_w=-2000.0),
        Segment(at(DAY, "02:36"), at(DAY, "03:00"), battery_w=-2000.0),  # 6 min later
        Segment(at(DAY, "03:00"), at(DAY, "03:10"), battery_w=1500.0),  # a discharge
        Segment(at(DAY, "03:10"), at(DAY, "03:40"), battery_w=-2000.0),
    ]
    found = detect(readings(day_start(), day_end(), segments))
    assert list(found["kind"]) == ["charge", "charge", "discharge", "charge"]
    assert list(found["energy_kwh"].round(6)) == [1.0, 0.8, 0.25, 1.0]


def test_a_three_hour_gap_is_not_integrated():
    charge = Segment(at(DAY, "01:00"), at(DAY, "06:00"), battery_w=-2000.0)
    gap = (at(DAY, "02:00"), at(DAY, "05:00"))
    found = detect(readings(day_start(), day_end(), [charge], gaps=[gap]))
    assert len(found) == 2
    assert list(found["energy_kwh"]) == pytest.approx([2.0, 2.0])
    assert list(found["end_time"]) == [
        pd.Timestamp(at(DAY, "02:00")),
        pd.Timestamp(at(DAY, "06:00")),
    ]


def test_tiny_and_brief_runs_are_not_sessions():
    segments = [
        Segment(at(DAY, "08:00"), at(DAY, "08:04"), battery_w=-3000.0),  # 4 minutes
        Segment(at(DAY, "09:00"), at(DAY, "09:10"), battery_w=-150.0),  # 0.025 kWh
        Segment(at(DAY, "10:00"), at(DAY, "11:00"), battery_w=-90.0),  # below 100 W
    ]
    assert detect(readings(day_start(), day_end(), segments)).empty
    looser = SessionConfig(min_duration_s=60, min_energy_kwh=0.01, threshold_w=50)
    assert len(detect(readings(day_start(), day_end(), segments), config=looser)) == 3


def test_counters_are_used_only_when_consistent():
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    frame = readings(day_start(), day_end(), [charge])
    glitch = frame["time"] == pd.Timestamp(at(DAY, "03:00"))
    frame.loc[glitch, "battery_charge_total_kwh"] = 0.0  # a counter reset mid-session
    s = detect(frame).iloc[0]
    assert s["energy_source"] == "integrated"
    assert s["energy_kwh"] == pytest.approx(4.0)

    # The inverter measured 4.4 kWh where 30-second samples integrate to 4.0: trust it.
    frame = readings(day_start(), day_end(), [charge], cadence_s=30.0)
    inside = frame["time"] >= pd.Timestamp(at(DAY, "02:00"))
    frame.loc[inside, "battery_charge_total_kwh"] += (
        (frame.loc[inside, "time"] - pd.Timestamp(at(DAY, "02:00")))
        .dt.total_seconds()
        .clip(upper=7200)
        / 7200
        * 0.4
    )
    prices = quarter_prices(day_start(), day_end(), buy=0.5)
    s = detect(frame, prices).iloc[0]
    assert s["energy_source"] == "counters"
    assert s["energy_kwh"] == pytest.approx(4.4)
    assert s["grid_energy_kwh"] == pytest.approx(4.4)
    assert s["cost_pln"] == pytest.approx(2.2)


def test_sessions_crossing_midnight_belong_to_the_day_they_start():
    charge = Segment(at(DAY, "23:00"), at(next_day(DAY), "01:00"), battery_w=-2000.0)
    frame = readings(day_start(), day_end(next_day(DAY)), [charge])
    found = detect(frame, data_end=day_end(next_day(DAY)))
    assert len(found) == 1
    s = found.iloc[0]
    assert s["partition_date"] == DAY
    assert s["energy_kwh"] == pytest.approx(4.0)
    assert s["end_time"] == pd.Timestamp(at(next_day(DAY), "01:00"))


def test_a_session_running_at_the_end_of_the_data_is_open_until_completed():
    charge = Segment(at(DAY, "23:00"), at(next_day(DAY), "01:00"), battery_w=-2000.0)
    so_far = readings(day_start(), at(DAY, "23:30"), [charge])
    first = detect(so_far, data_end=at(DAY, "23:30"))
    assert list(first["status"]) == ["open"]
    assert first.iloc[0]["energy_kwh"] == pytest.approx(1.0)

    everything = readings(day_start(), day_end(next_day(DAY)), [charge])
    second = detect(everything, data_end=day_end(next_day(DAY)))
    assert list(second["status"]) == ["completed"]
    assert second.iloc[0]["session_id"] == first.iloc[0]["session_id"]
    assert second.iloc[0]["energy_kwh"] == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("day", "real_hours"),
    [(SPRING, 2.0), (AUTUMN, 4.0)],
    ids=["spring-23h", "autumn-25h"],
)
def test_dst_days_charge_for_the_real_length_of_the_wall_clock_window(day, real_hours):
    charge = Segment(at(day, "01:00"), at(day, "04:00"), battery_w=-2000.0)
    frame = readings(day_start(day), day_end(day), [charge])
    prices = quarter_prices(day_start(day), day_end(day), buy=0.5)
    found = detect(frame, prices, day=day)
    assert len(found) == 1
    s = found.iloc[0]
    assert s["duration_s"] == real_hours * 3600
    assert s["energy_kwh"] == pytest.approx(2.0 * real_hours)
    assert s["cost_pln"] == pytest.approx(2.0 * real_hours * 0.5)
    assert s["partition_date"] == day


def test_autumn_repeated_hour_sessions_are_told_apart():
    first = Segment(at(AUTUMN, "02:10"), at(AUTUMN, "02:40"), battery_w=-2000.0)
    second = Segment(later(AUTUMN, "02:10"), later(AUTUMN, "02:40"), battery_w=-2000.0)
    found = detect(readings(day_start(AUTUMN), day_end(AUTUMN), [first, second]), day=AUTUMN)
    assert len(found) == 2
    assert found["session_id"].nunique() == 2
    assert (found["end_time"] - found["start_time"]).dt.total_seconds().tolist() == [1800, 1800]


def test_missing_prices_leave_money_unknown_not_zero():
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    prices = quarter_prices(at(DAY, "03:00"), day_end())
    s = detect(readings(day_start(), day_end(), [charge]), prices).iloc[0]
    assert s["energy_kwh"] == pytest.approx(4.0)
    assert np.isnan(s["cost_pln"])
    assert np.isnan(s["avg_price_pln_kwh"])


def test_mixed_cadences_are_integrated_at_their_own_pace():
    legacy = readings(
        day_start(),
        at(DAY, "12:00"),
        [Segment(at(DAY, "02:00"), at(DAY, "04:00"), -2000.0)],
        cadence_s=60.0,
    )
    live = readings(
        at(DAY, "12:00"),
        day_end(),
        [Segment(at(DAY, "14:00"), at(DAY, "16:00"), -2000.0)],
        cadence_s=10.0,
    )
    found = detect(pd.concat([legacy, live], ignore_index=True))
    assert list(found["energy_kwh"]) == pytest.approx([4.0, 4.0])


def test_devices_are_separate_and_ids_deterministic():
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    both = pd.concat(
        [
            readings(day_start(), day_end(), [charge], device_id="A"),
            readings(day_start(), day_end(), [charge], device_id="B"),
        ],
        ignore_index=True,
    )
    first, again = detect(both), detect(both)
    assert sorted(first["device_id"]) == ["A", "B"]
    assert first["session_id"].nunique() == 2
    assert list(first["session_id"]) == list(again["session_id"])


def test_no_readings_or_an_idle_day_give_no_sessions():
    assert detect(readings(day_start(), day_end())).empty
    assert detect(empty_frame()).empty


def test_planned_versus_actual_pairs_plans_with_overlapping_charges():
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    found = detect(
        readings(day_start(), day_end(), [charge]), quarter_prices(day_start(), day_end(), buy=0.5)
    )
    plans = pd.DataFrame(
        {
            "session_id": ["20250610_1", "20250610_2"],
            "start_time": [pd.Timestamp(at(DAY, "01:30")), pd.Timestamp(at(DAY, "13:00"))],
            "end_time": [pd.Timestamp(at(DAY, "03:30")), pd.Timestamp(at(DAY, "14:00"))],
            "target_energy_kwh": [5.0, 2.0],
            "estimated_cost_pln": [2.4, 1.0],
            "status": ["completed", "planned"],
        }
    )
    table = planned_vs_actual(plans, found)
    assert list(table["actual_sessions"]) == [1, 0]
    assert table.iloc[0]["actual_kwh"] == pytest.approx(4.0)
    assert table.iloc[0]["actual_cost_pln"] == pytest.approx(2.0)
    assert table.iloc[1]["actual_kwh"] == 0.0


def test_soc_comes_from_inside_the_session_only():
    charge = Segment(at(DAY, "02:00"), at(DAY, "04:00"), battery_w=-2000.0)
    frame = readings(day_start(), day_end(), [charge])
    times = frame["time"]
    frame.loc[
        (times >= pd.Timestamp(at(DAY, "02:00"))) & (times < pd.Timestamp(at(DAY, "02:30"))),
        "battery_soc_pct",
    ] = np.nan
    s = detect(frame).iloc[0]
    assert s["soc_start"] == pytest.approx(30.0)  # the first known value, at 02:30
    assert s["soc_end"] == pytest.approx(60.0)
    frame.loc[
        (times >= pd.Timestamp(at(DAY, "01:00"))) & (times <= pd.Timestamp(at(DAY, "04:00"))),
        "battery_soc_pct",
    ] = np.nan
    s = detect(frame).iloc[0]
    assert np.isnan(s["soc_start"]) and np.isnan(s["soc_end"])


def test_a_run_stores_its_days_and_continues_open_sessions_of_earlier_days():
    before = DAY - timedelta(days=1)
    segments = [
        Segment(at(before, "10:00"), at(before, "11:00"), battery_w=-2000.0),
        Segment(at(before, "22:00"), at(DAY, "03:00"), battery_w=-1000.0),
        Segment(at(DAY, "19:00"), at(DAY, "20:00"), battery_w=2000.0),
        Segment(at(next_day(DAY), "02:00"), at(next_day(DAY), "03:00"), battery_w=-2000.0),
    ]
    frame = readings(day_start(before), day_end(next_day(DAY)), segments, soc_start=10.0)
    found = detect(frame, data_end=day_end(next_day(DAY)))
    assert len(found) == 4
    over_midnight = session_id("SN-TEST", at(before, "22:00"))
    earlier_morning = session_id("SN-TEST", at(before, "10:00"))

    days, continued = sessions_of_run(found, DAY, DAY, {over_midnight, "gone"})
    assert days["start_time"].tolist() == [pd.Timestamp(at(DAY, "19:00"))]
    assert continued["session_id"].tolist() == [over_midnight]
    assert continued["partition_date"].tolist() == [before]
    assert continued["energy_kwh"].tolist() == pytest.approx([5.0])
    assert earlier_morning not in set(continued["session_id"])

    days, continued = sessions_of_run(found, before, next_day(DAY), {over_midnight})
    assert len(days) == 4 and continued.empty


def test_stale_sessions_are_those_of_days_with_readings_only():
    stored = pd.DataFrame(
        {
            "session_id": ["kept", "gone", "no-readings"],
            "partition_date": [DAY, DAY, next_day(DAY)],
        }
    )
    assert stale_session_ids(stored, {"kept"}, {DAY}) == ["gone"]
    assert stale_session_ids(stored, {"kept"}, {DAY, next_day(DAY)}) == ["gone", "no-readings"]
    assert stale_session_ids(stored.iloc[0:0], set(), {DAY}) == []


def test_days_with_readings_are_local_days():
    times = pd.Series(pd.to_datetime([at(DAY, "23:59:59"), at(next_day(DAY), "00:00")], utc=True))
    assert days_with_readings(times, TZ) == {DAY, next_day(DAY)}
    assert days_with_readings(times.iloc[:1], TZ) == {DAY}
    # Kathmandu is 5:45 ahead: midnight there is 18:15 UTC.
    nepal = pd.Series(
        pd.to_datetime(
            [datetime(2025, 6, 9, 18, 14, 59, tzinfo=UTC), datetime(2025, 6, 9, 18, 15, tzinfo=UTC)]
        )
    )
    assert days_with_readings(nepal, "Asia/Kathmandu") == {date(2025, 6, 9), DAY}
    assert days_with_readings(pd.Series([], dtype="datetime64[us, UTC]"), TZ) == set()


def _sessions(**columns) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for name in ("start_time", "end_time"):
        if name in frame:
            frame[name] = pd.to_datetime(frame[name]).dt.tz_localize(TZ)
    return frame


def test_overlapping_sessions_are_found_per_device_in_any_order():
    frame = _sessions(
        session_id=["b1", "a2", "a1", "a3"],
        device_id=["B", "A", "A", "A"],
        start_time=["2025-06-10 02:45", "2025-06-10 02:30", "2025-06-10 02:00", "2025-06-10 04:00"],
        end_time=["2025-06-10 03:10", "2025-06-10 04:00", "2025-06-10 03:00", "2025-06-10 05:00"],
    )
    assert overlapping_sessions(frame)["session_id"].tolist() == ["a2"]
    assert overlapping_sessions(frame.iloc[0:0]).empty


def test_sessions_beyond_capacity():
    frame = pd.DataFrame({"session_id": ["a", "b", "c"], "energy_kwh": [3.0, 12.5, 11.9]})
    assert sessions_beyond_capacity(frame, 10.0)["session_id"].tolist() == ["b"]
    assert sessions_beyond_capacity(frame, 10.0, factor=1.0)["session_id"].tolist() == ["b", "c"]


def test_soc_moving_against_the_session_kind():
    frame = pd.DataFrame(
        {
            "session_id": ["fine", "emptier", "within-tolerance", "fuller", "unknown"],
            "kind": ["charge", "charge", "charge", "discharge", "discharge"],
            "soc_start": [20.0, 60.0, 60.0, 80.0, np.nan],
            "soc_end": [60.0, 58.5, 59.5, 81.5, 70.0],
        }
    )
    with_soc, wrong = soc_against_kind(frame)
    assert with_soc == 4
    assert wrong["session_id"].tolist() == ["emptier", "fuller"]
