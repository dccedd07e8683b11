"""The three cases of measured days under every offer: balances, known answers, the daily
report's cost, DST days, skipped days and negative prices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline.common import days as days_mod
from goodwe_pipeline.prices.tariffs import load_tariff
from goodwe_pipeline.reports.daily import daily_energy
from goodwe_pipeline.whatif.battery import DEFAULT_LIMITS
from goodwe_pipeline.whatif.catalogue import load_catalogue
from goodwe_pipeline.whatif.costs import (
    SCENARIOS,
    Days,
    compare,
    consistency_problems,
    offer_cases,
)
from goodwe_pipeline.whatif.quarter_hours import ENERGY_COLUMNS, measured_days
from goodwe_pipeline_tests.synthetic_days import (
    constant,
    flat_prices,
    local,
    make_readings,
    sine_pv,
    window,
)

TZ = "Europe/Warsaw"
FIRST, LAST = date(2025, 6, 9), date(2025, 6, 10)
OWNER = load_tariff(None)
CATALOGUE = load_catalogue(None, OWNER)
DEVICE = "SN-WHATIF"


def soc(hours: np.ndarray) -> np.ndarray:
    return 30 + np.clip((hours - 2) / 2, 0, 1) * 40 - np.clip((hours - 19) / 2, 0, 1) * 40


def readings(first=FIRST, last=LAST, **extra) -> pd.DataFrame:
    return make_readings(
        first,
        last,
        TZ,
        cadence_s=60,
        device_id=DEVICE,
        pv=sine_pv(4000),
        load=constant(500),
        battery=lambda h: window(-2000, 2, 4)(h) + window(1000, 19, 21)(h),
        soc=soc,
        **extra,
    )


def prices(first=FIRST, last=LAST, market=None) -> pd.DataFrame:
    """Stored prices of the default tariff (G11 on the market price) with their market price."""
    market = market or (lambda h: np.where(h < 6, 0.25, np.where((h >= 17) & (h < 21), 0.9, 0.5)))
    frame = flat_prices(first - timedelta(days=1), last + timedelta(days=1), TZ, market, market)
    local_times = frame["time_start"].dt.tz_convert(TZ)
    frame["market_pln_kwh"] = frame["buy_pln_kwh"]
    buy, zone = OWNER.buy_price(frame["market_pln_kwh"].to_numpy(), pd.DatetimeIndex(local_times))
    frame["buy_pln_kwh"] = buy
    frame["sell_pln_kwh"] = OWNER.sell_price(frame["market_pln_kwh"].to_numpy())
    frame["zone"] = zone
    return frame


def run(frame, price_frame, days, now=None):
    measured = measured_days(frame, price_frame, days, TZ, now=now)
    limits = {DEVICE: DEFAULT_LIMITS} if len(measured.days) else {}
    return measured, compare(measured, CATALOGUE, OWNER, limits)


def test_as_measured_under_the_current_tariff_is_the_daily_reports_net_cost():
    frame, price_frame = readings(lifetime_counters=True), prices()
    _, result = run(frame, price_frame, [FIRST, LAST])
    report = daily_energy(frame, price_frame, [FIRST, LAST], TZ).days.set_index("day")
    rows = result.rows
    mine = rows[(rows["offer"] == "current") & (rows["scenario"] == "as_measured")]
    assert len(mine) == 2
    for day, cost in zip(mine["day"], mine["energy_cost_pln"], strict=True):
        assert cost == pytest.approx(report.at[day, "net_cost_pln"], abs=0.01)
    assert len(rows) == 2 * len(CATALOGUE.offers) * len(SCENARIOS)
    assert not result.skipped


def _each_case(measured, offer_name):
    days = Days.of(measured.quarters)
    limits = {DEVICE: DEFAULT_LIMITS}
    cases = {c.offer.name: c for c in offer_cases(measured, days, CATALOGUE, OWNER, limits)}
    mine = cases[offer_name]
    energy = {name: measured.quarters[name].to_numpy(float) for name in ENERGY_COLUMNS}
    for i, day in enumerate(days.day):
        part = slice(days.begin[i], days.begin[i] + days.length[i])
        soc_pct = measured.days.set_index("day").at[day, "soc_start_pct"]
        start = DEFAULT_LIMITS.level_kwh(soc_pct)
        flows = {
            scenario: {name: values[part] for name, values in flows.items()}
            for scenario, flows in mine.flows.items()
        }
        levels = (mine.level_start_kwh[i], mine.level_end_kwh[i])
        yield {name: values[part] for name, values in energy.items()}, flows, levels, start


@pytest.mark.parametrize("offer", ["current", "G12w", "dynamic-G12w"])
def test_every_case_balances_in_every_quarter_hour(offer):
    measured, _ = run(readings(), prices(), [FIRST, LAST])
    for energy, flows, (level_start, level_end), start in _each_case(measured, offer):
        assert list(flows) == list(SCENARIOS)
        for scenario, flow in flows.items():
            balance = (
                energy["pv_kwh"]
                + flow["grid_import_kwh"]
                + flow["battery_discharge_kwh"]
                - energy["load_kwh"]
                - flow["grid_export_kwh"]
                - flow["battery_charge_kwh"]
            )
            assert np.abs(balance).max() < 0.001, scenario
        assert level_start == pytest.approx(start)
        assert level_end >= start - 1e-9


def test_the_charge_level_carries_over_midnight_from_the_measured_battery():
    frame = readings()
    measured, result = run(frame, prices(), [FIRST, LAST])
    best = result.rows[result.rows["scenario"] == "best_battery"].set_index(["offer", "day"])
    midnight = pd.Timestamp(days_mod.day_window(LAST, TZ)[0])
    at_midnight = frame.loc[frame["time"] == midnight, "battery_soc_pct"].iloc[0]
    ended = frame.loc[frame["time"] < midnight, "battery_soc_pct"].iloc[-1]
    assert at_midnight == pytest.approx(ended)  # the measured level is continuous
    for offer in CATALOGUE.names:
        assert best.at[(offer, LAST), "level_start_kwh"] == pytest.approx(
            DEFAULT_LIMITS.level_kwh(at_midnight)
        )
    assert measured.days["soc_start_pct"].tolist() == pytest.approx([soc(np.zeros(1))[0]] * 2)


def test_the_battery_run_best_never_costs_more_than_no_battery():
    _, result = run(readings(), prices(), [FIRST, LAST])
    table = result.rows.pivot_table(
        index=["day", "offer"], columns="scenario", values="total_cost_pln"
    )
    assert (table["best_battery"] <= table["without_battery"] + 1e-9).all()
    assert (table["best_battery"] < table["without_battery"] - 0.5).all()  # the sun is stored


@pytest.mark.parametrize(("day", "quarters"), [(date(2025, 3, 30), 92), (date(2025, 10, 26), 100)])
def test_dst_days_have_their_own_number_of_quarter_hours(day, quarters):
    _, result = run(readings(day, day), prices(day, day), [day])
    assert set(result.rows["quarters"]) == {quarters}
    for _, row in result.rows.iterrows():
        zones = row["zones"]
        assert sum(z["bought_kwh"] for z in zones.values()) == pytest.approx(
            row["bought_kwh"], abs=1e-3
        )
        assert sum(z["cost_pln"] for z in zones.values()) == pytest.approx(
            row["energy_cost_pln"], abs=1e-3
        )


def test_days_with_missing_readings_or_prices_are_skipped_with_the_reason():
    gap = [(local(LAST, 8, TZ), local(LAST, 14, TZ))]
    frame = readings(FIRST, LAST, gaps=gap)
    third = LAST + timedelta(days=1)
    price_frame = prices(FIRST, LAST)
    price_frame = price_frame[price_frame["time_start"] < days_mod.day_window(FIRST, TZ)[1]]
    _, result = run(frame, price_frame, [FIRST - timedelta(days=1), FIRST, LAST, third])
    reasons = {(d, r) for _, d, r in result.skipped}
    assert (FIRST - timedelta(days=1), "no readings") in reasons
    assert any(d == LAST and "readings cover 75 %" in r for d, r in reasons)
    assert set(result.rows["day"]) == {FIRST}

    unpriced = prices(FIRST, LAST)
    unpriced = unpriced[unpriced["time_start"] >= days_mod.day_window(LAST, TZ)[0]]
    _, result = run(readings(), unpriced, [FIRST, LAST])
    assert any(d == FIRST and "have no price" in r for _, d, r in result.skipped)
    assert set(result.rows["day"]) == {LAST}


def test_a_day_not_over_is_skipped():
    now = datetime.combine(LAST, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    _, result = run(readings(), prices(), [FIRST, LAST], now=now)
    assert (DEVICE, LAST, "the day is not over") in result.skipped
    assert set(result.rows["day"]) == {FIRST}


def test_a_dynamic_offer_without_market_prices_is_skipped_for_that_offer_only():
    price_frame = prices().drop(columns=["market_pln_kwh"])
    _, result = run(readings(), price_frame, [FIRST])
    assert set(result.rows["offer"]) == set(CATALOGUE.names) - {"dynamic-G12w"}
    assert any("offer dynamic-G12w: no market price" in r for _, _, r in result.skipped)


def test_negative_prices_are_kept_and_the_battery_takes_paid_energy():
    market = lambda h: np.where((h >= 11) & (h < 15), -0.8, 0.5)  # noqa: E731
    _, result = run(readings(), prices(market=market), [FIRST])
    rows = result.rows.set_index(["offer", "scenario"])
    dynamic = rows.loc["dynamic-G12w"]
    assert (
        dynamic.at["best_battery", "energy_cost_pln"]
        < dynamic.at["without_battery", "energy_cost_pln"]
    )
    assert rows.at[("current", "without_battery"), "export_revenue_pln"] < 0  # paid to export


def test_consistency_problems_name_a_cost_off_the_daily_report_and_a_worse_best_battery():
    frame, price_frame = readings(), prices()
    _, result = run(frame, price_frame, [FIRST, LAST])
    daily = daily_energy(frame, price_frame, [FIRST, LAST], TZ).days[
        ["day", "device_id", "net_cost_pln"]
    ]
    assert consistency_problems(result.rows, daily).empty
    rows = result.rows.copy()
    off = (rows["offer"] == "current") & (rows["scenario"] == "as_measured") & (rows["day"] == LAST)
    rows.loc[off, "energy_cost_pln"] += 0.05
    worse = (rows["offer"] == "G11") & (rows["scenario"] == "best_battery") & (rows["day"] == FIRST)
    rows.loc[worse, "total_cost_pln"] += 100.0
    problems = consistency_problems(rows, daily)
    assert sorted(zip(problems["day"], problems["offer"], strict=True)) == [
        (FIRST, "G11"),
        (LAST, "current"),
    ]
    assert "daily report" in problems.set_index("offer").at["current", "problem"]


def test_comparison_columns_match_the_warehouse_table():
    """The pure what-if module names the table's columns itself (no SQLAlchemy import);
    this keeps the two lists from drifting apart."""
    from goodwe_pipeline.warehouse.schema import tariff_comparison as table
    from goodwe_pipeline.whatif.costs import COMPARISON_COLUMNS

    assert set(COMPARISON_COLUMNS) == {c.name for c in table.columns} - {"updated_at"}
    assert len(COMPARISON_COLUMNS) == len(set(COMPARISON_COLUMNS))
