"""The battery run best for one day's prices: a linear programme solved by HiGHS.

Per quarter hour ``t`` (energies in kWh, ``dt`` = 0.25 h), with measured solar ``P`` and
house load ``L``, buy price ``b`` and export price ``s``:

- variables: charge ``c`` and discharge ``d`` (at the battery's terminals, as the
  inverter measures them), export ``e``, stored energy ``x`` at the end of the quarter;
- import is what the balance leaves: ``i = L - P + c - d + e >= 0``, so
  ``P + i + d = L + e + c`` holds in every quarter hour by construction;
- storage: ``x_t = x_{t-1} + c_t * sqrt(eta) - d_t / sqrt(eta)`` (round-trip efficiency
  ``eta`` split evenly between charging and discharging), ``0 <= x_t <= usable``,
  ``x_{-1}`` = the measured level at midnight, and the day ends no lower than it started;
- power: ``c_t <= charge_kw * dt``, ``d_t <= discharge_kw * dt`` and, since a battery
  cannot do both at once, ``c_t / (charge_kw dt) + d_t / (discharge_kw dt) <= 1``;
- cost: ``sum b_t i_t - s'_t e_t`` with ``s' = min(s, b)``.

Import and export are settled on the net flow of each quarter hour; with ``s <= b`` the
programme never gains by importing and exporting in the same quarter, which keeps it
exact. In the rare quarter where export pays more than import, the plan values exports
at the buy price, and the day's cost is then counted with the real prices; when that
plan would cost more than leaving the battery idle, the idle plan is kept, so the best
battery never costs more than no battery.

Several days are solved as one block-diagonal programme (``Dispatcher.solve_days``): the
blocks share no variable or constraint and the cost is their sum, so each block's part of
the optimum is that day's own optimum. A HiGHS run has a fixed cost (checks, scaling,
factorisation, solution checks) larger than the few simplex iterations a warm-started
day needs, so one run per group of days (the what-if groups a day under every offer) is
what makes a year fast. One HiGHS model is kept per sequence of day lengths (92, 96 or
100 quarter hours) and re-solved with each group's numbers from the previous optimum (a
warm start): only costs, bounds and right-hand sides change.

Each programme is first solved without the power-share rows (a third of the rows): a
battery rarely gains from charging and discharging in the same quarter hour, so that
optimum almost always keeps every share within 1. It is then also feasible for the full
programme, whose feasible plans are a subset, so it is the full programme's optimum too.
A programme where some share exceeds 1 is solved again with the rows.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from goodwe_pipeline.whatif.battery import BatteryLimits

if TYPE_CHECKING:
    import highspy

QUARTER_H = 0.25
SHARE_TOLERANCE = 1e-9
"""How far a plan solved without the power-share rows may exceed a share of 1 and still be
taken as it is."""
_banner_shown = False


class DispatchError(RuntimeError):
    """HiGHS found no optimum (it always exists: the idle battery is a feasible plan)."""


@dataclass(frozen=True)
class Dispatch:
    """A day's plan, per quarter hour: battery flows, metered import/export, stored energy."""

    charge_kwh: np.ndarray
    discharge_kwh: np.ndarray
    grid_import_kwh: np.ndarray
    grid_export_kwh: np.ndarray
    level_kwh: np.ndarray
    """Stored (usable) energy at the end of each quarter hour."""
    start_kwh: float
    cost_pln: float
    idle: bool = False


@dataclass(frozen=True)
class Plans:
    """The plans of several days: per quarter hour, the days' quarter hours one after the
    other (``lengths`` of them per day); per day, ``start_kwh``, ``cost_pln`` and ``idle``."""

    lengths: np.ndarray
    charge_kwh: np.ndarray
    discharge_kwh: np.ndarray
    grid_import_kwh: np.ndarray
    grid_export_kwh: np.ndarray
    level_kwh: np.ndarray
    start_kwh: np.ndarray
    cost_pln: np.ndarray
    idle: np.ndarray

    def day(self, i: int) -> Dispatch:
        lo = int(self.lengths[:i].sum())
        part = slice(lo, lo + int(self.lengths[i]))
        return Dispatch(
            self.charge_kwh[part],
            self.discharge_kwh[part],
            self.grid_import_kwh[part],
            self.grid_export_kwh[part],
            self.level_kwh[part],
            float(self.start_kwh[i]),
            float(self.cost_pln[i]),
            bool(self.idle[i]),
        )


def settle(
    load: np.ndarray, pv: np.ndarray, charge: np.ndarray, discharge: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Metered import and export of each quarter hour: its net flow, split by sign."""
    net = load - pv + charge - discharge
    return np.maximum(net, 0.0), np.maximum(-net, 0.0)


def _new_highs() -> highspy.Highs:
    """A quiet HiGHS instance. HiGHS prints its banner to stdout when the process creates its
    first instance, before any option can be set; that one line is dropped."""
    import highspy

    global _banner_shown
    if _banner_shown:
        model = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                model = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
    model.setOptionValue("output_flag", False)
    return model


@dataclass(frozen=True)
class _BlockModel:
    """A warm HiGHS model for one sequence of day lengths, with the indices of what changes
    from one group of days to the next."""

    highs: highspy.Highs
    costs: np.ndarray
    """Charge, discharge and export columns (stored energy costs nothing)."""
    varying_cols: np.ndarray
    """Export columns (their upper bound) and each day's last stored energy (its lower bound)."""
    varying_rows: np.ndarray
    """Balance rows (solar - load) and each day's first storage row (the level at midnight)."""


class Dispatcher:
    """Solves days for one battery; keeps one warm HiGHS model per sequence of day lengths,
    with and without the power-share rows."""

    def __init__(self, limits: BatteryLimits):
        self.limits = limits
        self._models: dict[tuple[tuple[int, ...], bool], _BlockModel] = {}
        eta = limits.round_trip_efficiency
        self._eta_in = math.sqrt(eta)
        self._eta_out = math.sqrt(eta)
        self._max_c = limits.charge_kw * QUARTER_H
        self._max_d = limits.discharge_kw * QUARTER_H

    @property
    def can_move(self) -> bool:
        return self.limits.usable_kwh > 0 and self._max_c > 0 and self._max_d > 0

    def _model(self, lengths: tuple[int, ...], power_rows: bool) -> _BlockModel:
        """Columns: charge, discharge, export, stored energy, ``n`` each (all days' quarter
        hours in a row); rows: balance, storage and, with ``power_rows``, power share. The
        storage rows link each quarter hour to the one before only within a day, which
        makes the days blocks."""
        import highspy
        import scipy.sparse as sp

        key = (lengths, power_rows)
        if key in self._models:
            return self._models[key]
        n = sum(lengths)
        ends = np.cumsum(lengths)
        begins = ends - np.asarray(lengths)
        eye = sp.identity(n, format="csc")
        zero = sp.csc_matrix((n, n))
        previous = np.ones(n - 1)
        previous[begins[1:] - 1] = 0.0
        step = eye - sp.diags(previous, -1, format="csc")
        blocks = [
            sp.hstack([eye, -eye, eye, zero]),
            sp.hstack([-self._eta_in * eye, eye / self._eta_out, zero, step]),
        ]
        if power_rows:
            blocks.append(sp.hstack([eye / self._max_c, eye / self._max_d, zero, zero]))
        matrix = sp.vstack(blocks).tocsc()
        rows = len(blocks) * n
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = 4 * n, rows
        lp.col_cost_ = np.zeros(4 * n)
        lp.col_lower_ = np.zeros(4 * n)
        usable = self.limits.usable_kwh
        lp.col_upper_ = np.concatenate(
            [np.full(n, self._max_c), np.full(n, self._max_d), np.full(n, 1.0), np.full(n, usable)]
        )
        lp.row_lower_ = np.concatenate([np.zeros(2 * n), np.full(rows - 2 * n, -highspy.kHighsInf)])
        lp.row_upper_ = np.concatenate(
            [np.full(n, highspy.kHighsInf), np.zeros(n), np.ones(rows - 2 * n)]
        )
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = 4 * n, rows
        lp.a_matrix_.start_ = matrix.indptr
        lp.a_matrix_.index_ = matrix.indices
        lp.a_matrix_.value_ = matrix.data
        highs = _new_highs()
        highs.setOptionValue("presolve", "off")
        highs.passModel(lp)
        model = _BlockModel(
            highs,
            np.arange(3 * n, dtype=np.int32),
            np.concatenate([np.arange(2 * n, 3 * n), 3 * n + ends - 1]).astype(np.int32),
            np.concatenate([np.arange(n), n + begins]).astype(np.int32),
        )
        self._models[key] = model
        return model

    def solve(
        self,
        load: np.ndarray,
        pv: np.ndarray,
        buy: np.ndarray,
        sell: np.ndarray,
        start_kwh: float,
    ) -> Dispatch:
        """The cheapest plan for the day, starting (and ending at least) at ``start_kwh``."""
        return self.solve_days(load, pv, buy, sell, [start_kwh], [len(load)]).day(0)

    def solve_days(
        self,
        load: np.ndarray,
        pv: np.ndarray,
        buy: np.ndarray,
        sell: np.ndarray,
        start_kwh: Sequence[float] | np.ndarray,
        lengths: Sequence[int] | np.ndarray,
        programmes: Sequence[int] | np.ndarray | None = None,
    ) -> Plans:
        """The cheapest plan of each day. ``load`` .. ``sell`` hold the days' quarter hours
        one after the other (``lengths[i]`` > 0 of them for day ``i``); day ``i`` starts (and
        ends at least) at ``start_kwh[i]``. ``programmes`` splits the days, in order, into
        programmes of that many days each (by default all days are one programme)."""
        load, pv = np.asarray(load, "float64"), np.asarray(pv, "float64")
        buy, sell = np.asarray(buy, "float64"), np.asarray(sell, "float64")
        lengths = np.asarray(lengths, dtype=np.int64)
        usable = self.limits.usable_kwh
        start = np.clip(np.asarray(start_kwh, dtype="float64"), 0.0, usable)
        day_of = np.repeat(np.arange(len(lengths)), lengths)
        zeros = np.zeros(len(load))
        idle_import, idle_export = settle(load, pv, zeros, zeros)
        idle_cost = np.bincount(day_of, buy * idle_import - sell * idle_export, len(lengths))
        idle_level = start[day_of]
        if not self.can_move:
            return Plans(
                lengths,
                zeros,
                zeros.copy(),
                idle_import,
                idle_export,
                idle_level,
                start,
                idle_cost,
                np.ones(len(lengths), dtype=bool),
            )
        day_bounds = np.cumsum(np.append(0, programmes if programmes is not None else len(lengths)))
        quarter_bounds = np.append(0, np.cumsum(lengths))[day_bounds]
        valued = np.minimum(sell, buy)
        x = np.empty((3, len(load)))

        def solve(k: int, power_rows: bool) -> None:
            part = slice(quarter_bounds[k], quarter_bounds[k + 1])
            days = slice(day_bounds[k], day_bounds[k + 1])
            model = self._model(tuple(lengths[days].tolist()), power_rows)
            found = self._run(model, load[part], pv[part], buy[part], valued[part], start[days])
            x[:, part] = found.reshape(4, -1)[[0, 1, 3]]

        for k in range(len(day_bounds) - 1):
            solve(k, power_rows=False)
        share = np.clip(x[0], 0.0, None) / self._max_c + np.clip(x[1], 0.0, None) / self._max_d
        over = np.bincount(day_of, share > 1.0 + SHARE_TOLERANCE, len(lengths)) > 0
        programme_of = np.repeat(np.arange(len(day_bounds) - 1), np.diff(day_bounds))
        for k in np.unique(programme_of[over]):
            solve(k, power_rows=True)
        charge, discharge, level = x
        charge = np.clip(charge, 0.0, self._max_c)
        discharge = np.clip(discharge, 0.0, self._max_d)
        level = np.clip(level, 0.0, usable)
        grid_import, grid_export = settle(load, pv, charge, discharge)
        cost = np.bincount(day_of, buy * grid_import - sell * grid_export, len(lengths))
        idle = cost > idle_cost
        if idle.any():
            kept = idle[day_of]
            charge = np.where(kept, 0.0, charge)
            discharge = np.where(kept, 0.0, discharge)
            grid_import = np.where(kept, idle_import, grid_import)
            grid_export = np.where(kept, idle_export, grid_export)
            level = np.where(kept, idle_level, level)
            cost = np.where(idle, idle_cost, cost)
        return Plans(lengths, charge, discharge, grid_import, grid_export, level, start, cost, idle)

    def _run(self, model: _BlockModel, load, pv, buy, valued, start) -> np.ndarray:
        """Solves one programme; ``valued`` is the export price the plan counts (at most
        the buy price, see the module docstring)."""
        import highspy

        highs = model.highs
        highs.changeColsCost(
            len(model.costs), model.costs, np.concatenate([buy, -buy, buy - valued])
        )
        export_cap = np.maximum(pv - load, 0.0) + self._max_d
        highs.changeColsBounds(
            len(model.varying_cols),
            model.varying_cols,
            np.concatenate([np.zeros(len(load)), start]),
            np.concatenate([export_cap, np.full(len(start), self.limits.usable_kwh)]),
        )
        highs.changeRowsBounds(
            len(model.varying_rows),
            model.varying_rows,
            np.concatenate([pv - load, start]),
            np.concatenate([np.full(len(load), highspy.kHighsInf), start]),
        )
        highs.run()
        status = highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            highs.clearSolver()
            highs.run()
            status = highs.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise DispatchError(f"HiGHS: {highs.modelStatusToString(status)}")
        return np.asarray(highs.getSolution().col_value)
