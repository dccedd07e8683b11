"""Daily energy reports on synthetic days whose answers are known by construction."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline.reports.daily import (
    DAILY_ENERGY_COLUMNS,
    DETAIL_COLUMNS,
    QUANTITIES,
    daily_energy,
)
from goodwe_pipeline.reports.daily_document import report_documents, summary_markdown
from goodwe_pipeline.reports.quality import Limits, day_quality
from goodwe_pipeline.warehouse.schema import daily_energy as daily_energy_table
from goodwe_pipeline_tests.synthetic_days import (
    constant,
    flat_prices,
    local,
    make_readings,
    sine_pv,
    sine_pv_kwh,
    window,
)

TZ = "Europe/Warsaw"
DAY = date(2025, 6, 10)


def _one(result) -> pd.Series:
    assert len(result.days) == 1
    return result.days.iloc[0]


def test_columns_match_the_daily_energy_table() -> None:
    table_columns = {c.name for c in daily_energy_table.columns}
    assert set(DAILY_ENERGY_COLUMNS) <= table_columns
    assert table_columns - set(DAILY_ENERGY_COLUMNS) == {"config_version", "updated_at"}


def test_known_pv_curve_integrated_with_costs() -> None:
    """Half-sine PV (peak 4 kW, 6-18 h), 500 W load, no counters; buy 1.00 PLN/kWh at
    night and 0.40 during 10-14 h, sell 0.25."""
    readings = make_readings(DAY, DAY, TZ, pv=sine_pv(4000), load=constant(500))
    cheap_midday = lambda h: np.where((h >= 10) & (h < 14), 0.40, 1.00)  # noqa: E731
    prices = flat_prices(DAY, DAY, TZ, cheap_midday, constant(0.25))
    result = daily_energy(readings, prices, [DAY], TZ)
    assert list(result.days.columns) == [*DAILY_ENERGY_COLUMNS, *DETAIL_COLUMNS]
    row = _one(result)

    pv_kwh = sine_pv_kwh(4000)
    assert row["pv_kwh"] == pytest.approx(pv_kwh, rel=1e-4)
    assert row["load_kwh"] == pytest.approx(12.0, rel=1e-9)
    assert row["energy_source"] == "integrated"
    assert row["coverage_pct"] == pytest.approx(100.0)
    assert row["balance_error_pct"] == pytest.approx(0.0, abs=1e-6)
    assert row["peak_pv_w"] == pytest.approx(4000.0, rel=1e-3)
    assert row["peak_load_w"] == 500.0

    # Independent answer: the same hold-until-next-reading sums, done by hand per reading.
    t = readings["time"].dt.tz_convert(TZ)
    hours = (t - t.dt.normalize()).dt.total_seconds() / 3600
    dt_h = 10 / 3600
    grid = readings["grid_power_w"].to_numpy()[:-1]
    buy = np.where((hours >= 10) & (hours < 14), 0.40, 1.00)[:-1]
    import_kwh = np.clip(-grid, 0, None) * dt_h / 1000
    export_kwh = np.clip(grid, 0, None) * dt_h / 1000
    assert row["grid_import_kwh"] == pytest.approx(import_kwh.sum(), rel=1e-9)
    assert row["grid_export_kwh"] == pytest.approx(export_kwh.sum(), rel=1e-9)
    assert row["import_cost_pln"] == pytest.approx((import_kwh * buy).sum(), rel=1e-9)
    assert row["export_revenue_pln"] == pytest.approx(export_kwh.sum() * 0.25, rel=1e-9)
    baseline = (0.5 * dt_h * buy).sum()
    assert row["baseline_cost_pln"] == pytest.approx(baseline, rel=1e-9)
    assert row["net_cost_pln"] == pytest.approx(row["import_cost_pln"] - row["export_revenue_pln"])
    assert row["savings_pln"] == pytest.approx(baseline - row["net_cost_pln"])
    used_pv = pv_kwh - row["grid_export_kwh"]
    assert row["self_consumption_pct"] == pytest.approx(100 * used_pv / pv_kwh, rel=1e-3)
    assert row["self_sufficiency_pct"] == pytest.approx(
        100 * (12.0 - row["grid_import_kwh"]) / 12.0, rel=1e-6
    )


def test_grid_charging_costs_exactly_the_price() -> None:
    """2 kW grid charging 02:00-04:00 at 0.50 PLN/kWh, everything else idle."""
    readings = make_readings(DAY, DAY, TZ, battery=window(-2000, 2, 4), lifetime_counters=True)
    prices = flat_prices(DAY, DAY, TZ, constant(0.50), constant(0.20))
    row = _one(daily_energy(readings, prices, [DAY], TZ))
    assert row["battery_charge_kwh"] == pytest.approx(4.0)
    assert row["grid_import_kwh"] == pytest.approx(4.0)
    assert row["import_cost_pln"] == pytest.approx(2.0)
    assert row["baseline_cost_pln"] == pytest.approx(0.0)
    assert row["savings_pln"] == pytest.approx(-2.0)
    assert row["energy_source"] == "counters"


def test_counter_reset_at_noon_is_bridged() -> None:
    """Lifetime counters restart from 0 at noon (e.g. a firmware update)."""
    readings = make_readings(
        DAY, DAY, TZ, pv=sine_pv(3000), load=constant(400), lifetime_counters=True
    )
    noon = pd.Timestamp(local(DAY, 12, TZ))
    after = readings["time"] >= noon
    for q in QUANTITIES:
        at_noon = readings.loc[after, q.lifetime].iloc[0]
        readings.loc[after, q.lifetime] -= at_noon
    # Add a glitch: one frame with an absurd PV counter, and one with the counter read as 0.
    readings.loc[readings.index[4000], "pv_energy_total_kwh"] = 65535.0
    readings.loc[readings.index[5000], "pv_energy_total_kwh"] = 0.0
    row = _one(daily_energy(readings, pd.DataFrame(), [DAY], TZ))
    assert row["energy_source"] == "counters"
    assert row["pv_kwh"] == pytest.approx(sine_pv_kwh(3000), abs=0.05)
    # Only the 10 s between the last reading before the reset and the reset are lost.
    assert row["load_kwh"] == pytest.approx(9.6, abs=400 * 10 / 3.6e6 + 1e-9)
    quality = day_quality(readings, [DAY], TZ, Limits())
    assert int(quality["counter_decreases"].iloc[0]) >= 6


def test_daily_counters_reset_at_midnight() -> None:
    """No lifetime counters: the today counters reset at local midnight."""
    before = DAY - timedelta(days=1)
    readings = make_readings(
        before, DAY, TZ, pv=sine_pv(2000), load=constant(250), daily_counters=True
    )
    result = daily_energy(readings, pd.DataFrame(), [before, DAY], TZ)
    assert len(result.days) == 2
    for _, row in result.days.iterrows():
        assert row["energy_source"] == "counters"
        assert row["pv_source"] == "counters"
        assert row["pv_kwh"] == pytest.approx(sine_pv_kwh(2000), rel=1e-4)
        assert row["load_kwh"] == pytest.approx(6.0, abs=1e-3)


def test_three_hour_gap_integration_skips_it_counters_bridge_it() -> None:
    gap = (local(DAY, 12, TZ), local(DAY, 15, TZ))
    prices = flat_prices(DAY, DAY, TZ, constant(1.0), constant(0.5))
    integrated = _one(
        daily_energy(
            make_readings(DAY, DAY, TZ, pv=sine_pv(4000), load=constant(600), gaps=[gap]),
            prices,
            [DAY],
            TZ,
        )
    )
    assert integrated["coverage_pct"] == pytest.approx(100 * 21 / 24, abs=0.01)
    # The reading just before the gap holds nothing: it is not known how long it lasted.
    integrated_load = 0.6 * (21 - 10 / 3600)
    assert integrated["load_kwh"] == pytest.approx(integrated_load, rel=1e-9)
    hours = np.arange(12 - 10 / 3600, 15, 10 / 3600)
    gap_pv = (4000 * np.sin(np.pi * (hours - 6) / 12)).sum() * 10 / 3.6e6
    assert integrated["pv_kwh"] == pytest.approx(sine_pv_kwh(4000) - gap_pv, rel=1e-3)

    result = daily_energy(
        make_readings(
            DAY,
            DAY,
            TZ,
            pv=sine_pv(4000),
            load=constant(600),
            gaps=[gap],
            lifetime_counters=True,
        ),
        prices,
        [DAY],
        TZ,
    )
    counted = _one(result)
    assert counted["energy_source"] == "counters"
    assert counted["load_kwh"] == pytest.approx(0.6 * 24, rel=1e-6)
    assert counted["pv_kwh"] == pytest.approx(sine_pv_kwh(4000), rel=1e-4)
    assert counted["load_integrated_kwh"] == pytest.approx(integrated_load, rel=1e-9)
    # Quarter hours follow the powers and sum to the counter totals; none fall in the gap.
    quarters = result.quarters
    for q in QUANTITIES:
        assert quarters[q.column].sum() == pytest.approx(counted[q.column], rel=1e-9, abs=1e-9)
    in_gap = (quarters["time_start"] >= pd.Timestamp(gap[0])) & (
        quarters["time_start"] < pd.Timestamp(gap[1])
    )
    assert in_gap.sum() == 12
    assert quarters.loc[in_gap, "load_kwh"].sum() == 0.0
    ten_am = quarters["time_start"] == pd.Timestamp(local(DAY, 10, TZ))
    assert quarters.loc[ten_am, "load_kwh"].item() == pytest.approx(0.15 * 14.4 / integrated_load)


@pytest.mark.parametrize(("day", "hours"), [(date(2025, 3, 30), 23), (date(2025, 10, 26), 25)])
def test_dst_days(day: date, hours: int) -> None:
    readings = make_readings(day, day, TZ, load=constant(1000), lifetime_counters=True)
    prices = flat_prices(day, day, TZ, constant(0.8), constant(0.1))
    result = daily_energy(readings, prices, [day], TZ)
    row = _one(result)
    assert row["load_kwh"] == pytest.approx(hours, rel=1e-9)
    assert row["grid_import_kwh"] == pytest.approx(hours, rel=1e-9)
    assert row["coverage_pct"] == pytest.approx(100.0)
    assert len(result.quarters) == hours * 4
    assert row["import_cost_pln"] == pytest.approx(0.8 * hours)
    (document,) = report_documents(result, TZ)
    starts = document["hours"]["start"]
    assert len(starts) == hours
    assert document["hours"]["load_kwh"] == pytest.approx([1.0] * hours)
    if hours == 25:
        assert "2025-10-26T02:00:00+02:00" in starts and "2025-10-26T02:00:00+01:00" in starts
    else:
        assert "2025-03-30T01:00:00+01:00" in starts and "2025-03-30T03:00:00+02:00" in starts


def test_hourly_prices_and_negative_prices() -> None:
    """Hourly price rows apply to their four quarter hours; negative prices are kept."""
    readings = make_readings(DAY, DAY, TZ, pv=window(3000, 11, 13), load=constant(1000))
    hourly = flat_prices(
        DAY, DAY, TZ, lambda h: np.where(h < 12, 1.0, 0.5), constant(-0.1), step_min=60
    )
    row = _one(daily_energy(readings, hourly, [DAY], TZ))
    assert row["grid_export_kwh"] == pytest.approx(4.0)
    assert row["export_revenue_pln"] == pytest.approx(-0.4)
    assert row["import_cost_pln"] == pytest.approx(11 * 1.0 + 11 * 0.5)
    assert row["baseline_cost_pln"] == pytest.approx(12 * 1.0 + 12 * 0.5)


def test_missing_prices_give_no_costs_rather_than_partial_ones() -> None:
    readings = make_readings(DAY, DAY, TZ, load=constant(500))
    prices = flat_prices(DAY, DAY, TZ, constant(1.0), constant(0.2))
    row = _one(daily_energy(readings, prices.iloc[:-4], [DAY], TZ))
    assert row["unpriced_quarters"] == 4
    assert np.isnan(row["import_cost_pln"]) and np.isnan(row["savings_pln"])
    assert row["load_kwh"] == pytest.approx(12.0)
    row = _one(daily_energy(readings, pd.DataFrame(), [DAY], TZ))
    assert np.isnan(row["net_cost_pln"])


def test_counters_disagreeing_with_powers_scale_the_quarters() -> None:
    """Counters 10 % above the integrated powers: totals from counters, profile from powers."""
    readings = make_readings(DAY, DAY, TZ, load=window(2000, 18, 20), lifetime_counters=True)
    readings["load_energy_total_kwh"] = 1000 + (readings["load_energy_total_kwh"] - 1000) * 1.1
    result = daily_energy(readings, pd.DataFrame(), [DAY], TZ)
    row = _one(result)
    assert row["load_kwh"] == pytest.approx(4.4)
    assert row["load_integrated_kwh"] == pytest.approx(4.0)
    evening = result.quarters["load_kwh"] > 0
    assert evening.sum() == 8
    assert result.quarters["load_kwh"].sum() == pytest.approx(4.4)


def test_impossible_values_are_ignored() -> None:
    readings = make_readings(DAY, DAY, TZ, load=constant(500), soc=lambda h: 20 + 2 * h)
    readings.loc[readings.index[100], "battery_soc_pct"] = 255.0
    readings.loc[readings.index[200], "load_power_w"] = 1e6
    row = _one(daily_energy(readings, pd.DataFrame(), [DAY], TZ))
    assert row["soc_max"] < 70
    assert row["soc_min"] == pytest.approx(20.0)
    assert row["peak_load_w"] == 500.0
    quality = day_quality(readings, [DAY], TZ, Limits())
    assert int(quality["impossible_battery_soc_pct"].iloc[0]) == 1
    assert int(quality["impossible_load_power_w"].iloc[0]) == 1


def test_many_days_and_devices_in_one_pass_equal_single_days() -> None:
    first, last = date(2025, 3, 29), date(2025, 3, 31)
    a = make_readings(first, last, TZ, pv=sine_pv(3000), load=constant(700), device_id="A")
    b = make_readings(
        first, last, TZ, load=constant(300), lifetime_counters=True, device_id="B", cadence_s=30
    )
    both = pd.concat([a, b]).sort_values(["device_id", "time"]).reset_index(drop=True)
    days = [first, first + timedelta(days=1), last]
    prices = flat_prices(first, last, TZ, constant(0.9), constant(0.3))
    together = daily_energy(both, prices, days, TZ).days.set_index(["day", "device_id"])
    assert len(together) == 6
    for day in days:
        for device, frame in (("A", a), ("B", b)):
            single = _one(daily_energy(frame, prices, [day], TZ))
            for column in ("pv_kwh", "load_kwh", "import_cost_pln", "coverage_pct"):
                assert together.loc[(day, device), column] == pytest.approx(single[column])


def test_partial_day_coverage_counts_elapsed_time() -> None:
    now = local(DAY, 6, TZ)
    readings = make_readings(DAY, DAY, TZ, load=constant(500))
    readings = readings[readings["time"] < pd.Timestamp(now)].reset_index(drop=True)
    result = daily_energy(readings, pd.DataFrame(), [DAY], TZ, now=now)
    row = _one(result)
    assert row["coverage_pct"] == pytest.approx(100.0, abs=0.01)
    assert row["load_kwh"] == pytest.approx(3.0, abs=0.002)
    assert len(result.quarters) == 24


def test_no_readings_gives_no_rows() -> None:
    readings = make_readings(DAY, DAY, TZ, load=constant(500))
    result = daily_energy(readings, pd.DataFrame(), [DAY + timedelta(days=5)], TZ)
    assert result.days.empty
    assert list(result.days.columns) == [*DAILY_ENERGY_COLUMNS, *DETAIL_COLUMNS]
    quality = day_quality(readings, [DAY + timedelta(days=5)], TZ, Limits())
    assert quality["coverage_pct"].tolist() == [0.0]
    assert quality["device_id"].isna().all()


def test_unsorted_readings_are_refused() -> None:
    readings = make_readings(DAY, DAY, TZ, load=constant(500))
    with pytest.raises(ValueError, match="sorted"):
        daily_energy(readings.iloc[::-1], pd.DataFrame(), [DAY], TZ)


def test_quality_of_duplicates_and_coverage() -> None:
    readings = make_readings(DAY, DAY, TZ, load=constant(500), cadence_s=30)
    extra = readings.iloc[[10, 20]].copy()
    extra["time"] = extra["time"] + pd.Timedelta(milliseconds=300)
    half = readings[readings["time"] < pd.Timestamp(local(DAY, 12, TZ))]
    frame = pd.concat([half, extra]).sort_values(["device_id", "time"]).reset_index(drop=True)
    quality = day_quality(frame, [DAY], TZ, Limits())
    row = quality.iloc[0]
    assert row["duplicates"] == 2
    assert row["coverage_pct"] == pytest.approx(50.0, abs=0.1)
    assert row["cadence_s"] == 30


def test_report_document_and_markdown_are_plain() -> None:
    readings = make_readings(DAY, DAY, TZ, pv=sine_pv(4000), load=constant(500))
    prices = flat_prices(DAY, DAY, TZ, constant(1.0), constant(0.3))
    result = daily_energy(readings, prices, [DAY], TZ)
    (document,) = report_documents(result, TZ)
    json.dumps(document, allow_nan=False)
    assert document["figures"]["day"] == "2025-06-10"
    assert document["figures"]["pv_kwh"] == pytest.approx(sine_pv_kwh(4000), rel=1e-4)
    hours = document["hours"]
    assert hours["start"][0] == "2025-06-10T00:00:00+02:00"
    assert len(hours["start"]) == 24
    assert sum(hours["pv_kwh"]) == pytest.approx(sine_pv_kwh(4000), rel=1e-4)
    assert hours["load_kwh"][5] == pytest.approx(0.5)
    assert hours["import_cost_pln"][0] == pytest.approx(0.5)
    markdown = summary_markdown(result.days)
    assert "2025-06-10" in markdown and "PV kWh" in markdown


def test_daily_energy_columns_match_the_warehouse_table():
    """The pure report module names the table's columns itself (no SQLAlchemy import);
    this keeps the two lists from drifting apart."""
    from goodwe_pipeline.reports.daily import DAILY_ENERGY_COLUMNS
    from goodwe_pipeline.warehouse.schema import daily_energy as table

    bookkeeping = {"config_version", "updated_at"}
    assert list(DAILY_ENERGY_COLUMNS) == [
        c.name for c in table.columns if c.name not in bookkeeping
    ]


def _load_kwh(readings: pd.DataFrame, days: list[date]) -> pd.Series:
    result = daily_energy(readings, pd.DataFrame(), days, TZ)
    assert set(result.days["load_source"]) == {"counters"}
    return result.days.set_index("day")["load_kwh"]


@pytest.mark.parametrize("size_kwh", [0.05, 0.47, 5.0, 65_535.0])
@pytest.mark.parametrize("readings_long", [1, 2, 6, 30])
@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_counter_excursions_of_any_size_and_duration_count_nothing(
    size_kwh: float, readings_long: int, direction: float
) -> None:
    """A lifetime counter that goes up (or down, not to near zero) for up to 30 readings
    and comes back counts exactly what the counter without it counts."""
    readings = make_readings(DAY, DAY, TZ, load=constant(600), lifetime_counters=True)
    truth = _load_kwh(readings, [DAY])[DAY]
    assert truth == pytest.approx(14.4, abs=1e-6)
    at = len(readings) // 3
    size = min(size_kwh, 900.0) if direction < 0 else size_kwh
    readings.loc[readings.index[at : at + readings_long], "load_energy_total_kwh"] += (
        direction * size
    )
    assert _load_kwh(readings, [DAY])[DAY] == pytest.approx(truth, abs=1e-9)


def test_the_issue_spike_one_minute_up_and_back_adds_nothing() -> None:
    """The load counter 2074.62 -> 2075.09 for one minute -> 2074.64 (a reading placed an
    hour early): 28 kW for a minute passes the rated-power glitch rule, yet the day's
    load must not gain 0.47 kWh."""
    readings = make_readings(
        DAY,
        DAY,
        TZ,
        cadence_s=60.0,
        load=constant(530),
        lifetime_counters=True,
        counter_base_kwh=2074.62 - 0.53 * 2 / 60,
    )
    truth = _load_kwh(readings, [DAY])[DAY]
    assert readings["load_energy_total_kwh"].iloc[2] == pytest.approx(2074.62)
    readings.loc[readings.index[3], "load_energy_total_kwh"] = 2075.09
    assert readings["load_energy_total_kwh"].iloc[4] == pytest.approx(2074.64, abs=0.005)
    assert _load_kwh(readings, [DAY])[DAY] == pytest.approx(truth, abs=1e-9)


def test_a_reset_still_counts_and_an_excursion_before_it_does_not() -> None:
    readings = make_readings(DAY, DAY, TZ, load=constant(600), lifetime_counters=True)
    truth = _load_kwh(readings, [DAY])[DAY]
    noon = readings["time"] >= pd.Timestamp(local(DAY, 12, TZ))
    readings.loc[noon, "load_energy_total_kwh"] -= readings.loc[noon, "load_energy_total_kwh"].iloc[
        0
    ]
    readings.loc[readings.index[1000:1003], "load_energy_total_kwh"] += 3.0
    # Only the 10 s between the last reading before the reset and the reset are lost.
    assert _load_kwh(readings, [DAY])[DAY] == pytest.approx(truth - 600 * 10 / 3.6e6, abs=1e-9)


def test_an_excursion_before_a_gap_over_midnight_counts_nothing() -> None:
    """Readings stop at 23:00 and resume at 01:00; the last reading before the gap is an
    excursion (the counter is lower after the gap than it showed): both days count what
    the counter without it counts, the gap shared in proportion to time."""
    before = DAY - timedelta(days=1)
    gap = [(local(before, 23, TZ), local(DAY, 1, TZ))]
    readings = make_readings(before, DAY, TZ, load=constant(600), lifetime_counters=True, gaps=gap)
    truth = _load_kwh(readings, [before, DAY])
    last = readings.index[readings["time"] < pd.Timestamp(gap[0][0])][-3:]
    readings.loc[last, "load_energy_total_kwh"] += 1.5  # above the 1.2 kWh the gap adds
    after = _load_kwh(readings, [before, DAY])
    pd.testing.assert_series_equal(after, truth, rtol=0, atol=1e-3)
    assert truth.sum() == pytest.approx(2 * 14.4, abs=0.01)


def test_monotone_readings_keeps_the_longest_never_decreasing_run() -> None:
    from goodwe_pipeline.reports.counters import monotone_readings

    keep = monotone_readings(np.array([1.0, 2.0, 9.0, 9.5, 2.1, 2.2, 2.3, 2.3]))
    assert keep.tolist() == [True, True, False, False, True, True, True, True]
    dip = monotone_readings(np.array([5.0, 5.1, 1.0, 5.2, 5.3]))
    assert dip.tolist() == [True, True, False, True, True]
    tie = monotone_readings(np.array([2074.62, 2075.09, 2074.64]))
    assert tie.tolist() == [True, False, True], "of equally long runs, the lower one"
