"""The battery run best: a linear programme checked against hand-computed days, a
brute-force search, the energy balance and the battery's limits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from goodwe_pipeline.whatif.battery import BatteryLimits
from goodwe_pipeline.whatif.dispatch import QUARTER_H, Dispatcher, settle

N = 96
HOURS = np.arange(N) / 4


def limits(
    usable: float = 4.0,
    charge_kw: float = 2.0,
    discharge_kw: float = 2.0,
    efficiency: float = 0.81,
) -> BatteryLimits:
    return BatteryLimits(
        capacity_kwh=usable,
        soc_min_pct=0.0,
        soc_max_pct=100.0,
        charge_kw=charge_kw,
        discharge_kw=discharge_kw,
        round_trip_efficiency=efficiency,
    )


def assert_physical(plan, load, pv, lim: BatteryLimits, start: float) -> None:
    """Balance in every quarter hour within 1 Wh, and the battery within its limits."""
    balance = (
        pv
        + plan.grid_import_kwh
        + plan.discharge_kwh
        - (load + plan.grid_export_kwh + plan.charge_kwh)
    )
    assert np.abs(balance).max() < 1e-3
    tol = 1e-7
    assert (plan.grid_import_kwh >= -tol).all() and (plan.grid_export_kwh >= -tol).all()
    assert (plan.charge_kwh <= lim.charge_kw * QUARTER_H + tol).all()
    assert (plan.discharge_kwh <= lim.discharge_kw * QUARTER_H + tol).all()
    shares = plan.charge_kwh / (lim.charge_kw * QUARTER_H) + plan.discharge_kwh / (
        lim.discharge_kw * QUARTER_H
    )
    assert (shares <= 1 + 1e-6).all()
    assert (plan.level_kwh >= -tol).all() and (plan.level_kwh <= lim.usable_kwh + tol).all()
    eta = np.sqrt(lim.round_trip_efficiency)
    before = np.concatenate([[start], plan.level_kwh[:-1]])
    expected = before + plan.charge_kwh * eta - plan.discharge_kwh / eta
    assert plan.level_kwh == pytest.approx(expected, abs=1e-6)
    assert plan.level_kwh[-1] >= start - tol


def test_cheap_night_and_expensive_evening_charge_at_night_discharge_in_the_evening():
    load = np.full(N, 0.25)
    pv = np.zeros(N)
    buy = np.where(HOURS < 6, 0.5, np.where((HOURS >= 18) & (HOURS < 22), 2.0, 1.0))
    sell = np.zeros(N)
    lim = limits()
    plan = Dispatcher(lim).solve(load, pv, buy, sell, 0.0)
    assert_physical(plan, load, pv, lim, 0.0)
    # Without the battery: 6 h at 0.5, 4 h at 2.0, 14 h at 1.0, 1 kW throughout.
    without = 6 * 0.5 + 4 * 2.0 + 14 * 1.0
    # The 4 kWh store fills at night: 4 / 0.9 kWh bought at 0.5, 3.6 kWh delivered at 2.0.
    expected = without - 3.6 * 2.0 + (4 / 0.9) * 0.5
    assert plan.cost_pln == pytest.approx(expected, abs=1e-6)
    night, evening = HOURS < 6, (HOURS >= 18) & (HOURS < 22)
    assert plan.charge_kwh[night].sum() == pytest.approx(4 / 0.9, abs=1e-6)
    assert plan.charge_kwh[~night].sum() == pytest.approx(0.0, abs=1e-6)
    assert plan.discharge_kwh[evening].sum() == pytest.approx(3.6, abs=1e-6)
    assert plan.level_kwh.max() == pytest.approx(4.0, abs=1e-6)


def test_discharge_power_limit_binds_in_a_short_expensive_evening():
    load = np.full(N, 1.0)  # 4 kW
    pv = np.zeros(N)
    buy = np.where(HOURS < 6, 0.5, np.where((HOURS >= 18) & (HOURS < 19), 3.0, 1.0))
    lim = limits(usable=10.0, charge_kw=2.0, discharge_kw=2.0, efficiency=1.0)
    plan = Dispatcher(lim).solve(load, pv, buy, np.zeros(N), 0.0)
    assert_physical(plan, load, pv, lim, 0.0)
    # One expensive hour at 2 kW: 2 kWh moved from 0.5 to 3.0; the rest of the stored
    # energy is worth more during the day (1.0) than it cost at night (0.5).
    without = float(buy @ load)
    stored = 10.0
    expected = without - 2.0 * (3.0 - 0.5) - (stored - 2.0) * (1.0 - 0.5)
    assert plan.cost_pln == pytest.approx(expected, abs=1e-6)
    assert plan.discharge_kwh[(HOURS >= 18) & (HOURS < 19)] == pytest.approx(np.full(4, 0.5))


def test_flat_prices_the_battery_earns_only_self_consumption():
    load = np.where((HOURS >= 18) & (HOURS < 22), 0.75, 0.1)
    pv = np.where((HOURS >= 10) & (HOURS < 14), 0.5, 0.0)
    buy, sell = np.full(N, 1.0), np.full(N, 0.2)
    lim = limits(usable=10.0, charge_kw=5.0, discharge_kw=5.0, efficiency=0.95)
    dispatcher = Dispatcher(lim)
    plan = dispatcher.solve(load, pv, buy, sell, 0.0)
    assert_physical(plan, load, pv, lim, 0.0)
    surplus = np.clip(pv - load, 0, None)
    imp, exp = settle(load, pv, np.zeros(N), np.zeros(N))
    without = float(buy @ imp - sell @ exp)
    # Each kWh of surplus stored instead of sold gives back 0.95 kWh that need not be
    # bought: worth 0.95 * 1.0 - 0.2; buying to store only loses the 5 %.
    assert plan.cost_pln == pytest.approx(without - surplus.sum() * (0.95 - 0.2), abs=1e-6)
    assert plan.charge_kwh == pytest.approx(surplus, abs=1e-6)
    # No solar: nothing to gain, the battery stays idle.
    idle = dispatcher.solve(load, np.zeros(N), buy, sell, 3.0)
    assert idle.cost_pln == pytest.approx(float(buy @ load), abs=1e-9)
    assert idle.charge_kwh.sum() == pytest.approx(0.0, abs=1e-9)


def _brute_force(load, pv, buy, sell, usable, step, start):
    """Every path of stored energy on a grid of ``step`` kWh (round trip 100 %)."""
    levels = np.arange(0.0, usable + 1e-9, 0.5)
    best = np.inf
    for path in itertools.product(levels, repeat=len(load)):
        if path[-1] < start - 1e-9:
            continue
        moves = np.diff(np.concatenate([[start], path]))
        if np.abs(moves).max() > step + 1e-9:
            continue
        imp, exp = settle(load, pv, np.clip(moves, 0, None), np.clip(-moves, 0, None))
        best = min(best, float(buy @ imp - sell @ exp))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_the_programme_finds_the_brute_force_optimum_on_small_days(seed):
    rng = np.random.default_rng(seed)
    n = 5
    load = rng.integers(0, 3, n).astype(float)
    pv = rng.integers(0, 3, n).astype(float)
    buy = rng.uniform(0.3, 2.0, n).round(2)
    sell = (buy * rng.uniform(0.0, 1.0, n)).round(2)
    start = float(rng.integers(0, 3))
    lim = BatteryLimits(3.0, 0.0, 100.0, 4.0, 4.0, 1.0)  # 1 kWh per quarter hour each way
    plan = Dispatcher(lim).solve(load, pv, buy, sell, start)
    assert_physical(plan, load, pv, lim, start)
    assert plan.cost_pln == pytest.approx(
        _brute_force(load, pv, buy, sell, 3.0, 1.0, start), abs=1e-6
    )


@pytest.mark.parametrize("seed", range(5))
def test_random_days_stay_physical_and_never_cost_more_than_no_battery(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.choice([92, 96, 100]))
    load = rng.uniform(0.02, 0.6, n)
    pv = np.clip(np.sin((np.arange(n) / 4 - 6) / 12 * np.pi), 0, None) * rng.uniform(0, 1.5)
    buy = rng.uniform(-0.3, 1.8, n)
    sell = buy * rng.uniform(-0.2, 1.3, n)  # some export prices above the buy price
    lim = limits(usable=7.5, charge_kw=3.0, discharge_kw=2.5, efficiency=0.88)
    start = float(rng.uniform(0, 7.5))
    plan = Dispatcher(lim).solve(load, pv, buy, sell, start)
    assert_physical(plan, load, pv, lim, start)
    imp, exp = settle(load, pv, np.zeros(n), np.zeros(n))
    assert plan.cost_pln <= float(buy @ imp - sell @ exp) + 1e-9


def test_negative_prices_the_battery_takes_paid_energy():
    load = np.full(N, 0.1)
    pv = np.where((HOURS >= 11) & (HOURS < 15), 1.0, 0.0)
    buy = np.where((HOURS >= 12) & (HOURS < 14), -0.4, 1.0)
    sell = np.where((HOURS >= 11) & (HOURS < 15), -0.3, 0.3)
    lim = limits(usable=5.0, charge_kw=4.0, discharge_kw=4.0, efficiency=0.9)
    plan = Dispatcher(lim).solve(load, pv, buy, sell, 1.0)
    assert_physical(plan, load, pv, lim, 1.0)
    imp, exp = settle(load, pv, np.zeros(N), np.zeros(N))
    without = float(buy @ imp - sell @ exp)
    assert plan.cost_pln < without - 1.0
    # Exports cost money from 11:00 to 15:00: the battery is full when they end.
    assert plan.level_kwh[int(15 * 4) - 1] == pytest.approx(lim.usable_kwh, abs=1e-6)
    assert plan.charge_kwh[(HOURS >= 11) & (HOURS < 15)].sum() > 4.0


def _linprog_day_cost(load, pv, buy, sell, lim: BatteryLimits, start: float) -> float:
    """The module docstring's programme for one day, built independently and solved by
    SciPy: variables charge, discharge, import, export, stored energy (``n`` each)."""
    from scipy.optimize import linprog

    n = len(load)
    eta = np.sqrt(lim.round_trip_efficiency)
    max_c, max_d = lim.charge_kw * QUARTER_H, lim.discharge_kw * QUARTER_H
    eye, zero = np.eye(n), np.zeros((n, n))
    step = eye - np.eye(n, k=-1)
    balance = np.hstack([-eye, eye, eye, -eye, zero])  # import - export - charge + discharge
    storage = np.hstack([-eta * eye, eye / eta, zero, zero, step])
    a_eq = np.vstack([balance, storage])
    b_eq = np.concatenate([load - pv, np.eye(n)[0] * start])
    a_ub = np.hstack([eye / max_c, eye / max_d, zero, zero, zero])
    valued = np.minimum(sell, buy)
    cost = np.concatenate([np.zeros(2 * n), buy, -valued, np.zeros(n)])
    bounds = (
        [(0, max_c)] * n
        + [(0, max_d)] * n
        + [(0, None)] * 2 * n
        + [(0, lim.usable_kwh)] * (n - 1)
        + [(start, lim.usable_kwh)]
    )
    result = linprog(cost, a_ub, np.ones(n), a_eq, b_eq, bounds, method="highs")
    assert result.status == 0
    charge, discharge = result.x[:n], result.x[n : 2 * n]
    imp, exp = settle(load, pv, charge, discharge)
    idle_imp, idle_exp = settle(load, pv, np.zeros(n), np.zeros(n))
    return min(float(buy @ imp - sell @ exp), float(buy @ idle_imp - sell @ idle_exp))


def test_days_solved_together_as_blocks_each_reach_their_own_days_optimum():
    """``solve_days`` puts several days (here DST lengths and negative prices among them)
    into one block-diagonal programme, in programmes of 3, 1 and 2 days: each day's plan
    costs what the day's own programme, solved separately by SciPy, costs. Some of these
    days gain from charging and discharging at once, so their programme is solved again
    with the power-share rows."""
    rng = np.random.default_rng(7)
    lengths = [96, 92, 100, 96, 96, 100]
    lim = limits(usable=6.0, charge_kw=3.0, discharge_kw=2.5, efficiency=0.85)
    days = []
    for n in lengths:
        hours = np.arange(n) / 4
        load = rng.uniform(0.02, 0.5, n)
        pv = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None) * rng.uniform(0, 1.5)
        buy = rng.uniform(-0.3, 1.8, n)
        sell = buy * rng.uniform(-0.2, 1.2, n)
        days.append((load, pv, buy, sell, float(rng.uniform(0, 6.0))))
    load, pv, buy, sell = (np.concatenate([d[k] for d in days]) for k in range(4))
    starts = [d[4] for d in days]
    plans = Dispatcher(lim).solve_days(load, pv, buy, sell, starts, lengths, [3, 1, 2])
    for i, (day_load, day_pv, day_buy, day_sell, start) in enumerate(days):
        plan = plans.day(i)
        assert_physical(plan, day_load, day_pv, lim, start)
        expected = _linprog_day_cost(day_load, day_pv, day_buy, day_sell, lim, start)
        assert plan.cost_pln == pytest.approx(expected, abs=1e-6)
