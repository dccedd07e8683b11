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

One HiGHS model per day length (92, 96 or 100 quarter hours) is kept and re-solved with
each day's numbers from the previous optimum (a warm start), which is what makes a year
of days fast.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from goodwe_pipeline.whatif.battery import BatteryLimits

QUARTER_H = 0.25
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


def settle(
    load: np.ndarray, pv: np.ndarray, charge: np.ndarray, discharge: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Metered import and export of each quarter hour: its net flow, split by sign."""
    net = load - pv + charge - discharge
    return np.maximum(net, 0.0), np.maximum(-net, 0.0)


def _idle(load, pv, buy, sell, start_kwh) -> Dispatch:
    zeros = np.zeros(len(load))
    imp, exp = settle(load, pv, zeros, zeros)
    return Dispatch(
        zeros,
        zeros.copy(),
        imp,
        exp,
        np.full(len(load), start_kwh),
        start_kwh,
        float(buy @ imp - sell @ exp),
        idle=True,
    )


def _new_highs() -> highspy.Highs:
    """A quiet HiGHS instance. HiGHS prints its banner to stdout when the process creates its
    first instance, before any option can be set; that one line is dropped."""
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


class Dispatcher:
    """Solves days for one battery; keeps one warm HiGHS model per day length."""

    def __init__(self, limits: BatteryLimits):
        self.limits = limits
        self._models: dict[int, highspy.Highs] = {}
        eta = limits.round_trip_efficiency
        self._eta_in = math.sqrt(eta)
        self._eta_out = math.sqrt(eta)
        self._max_c = limits.charge_kw * QUARTER_H
        self._max_d = limits.discharge_kw * QUARTER_H

    @staticmethod
    def _index(count: int) -> np.ndarray:
        return np.arange(count, dtype=np.int32)

    @staticmethod
    def _varying(n: int) -> np.ndarray:
        """Columns whose bounds change from day to day: export, and the last stored energy."""
        return np.append(np.arange(2 * n, 3 * n), 4 * n - 1).astype(np.int32)

    @property
    def can_move(self) -> bool:
        return self.limits.usable_kwh > 0 and self._max_c > 0 and self._max_d > 0

    def _model(self, n: int) -> highspy.Highs:
        if n in self._models:
            return self._models[n]
        eye = sp.identity(n, format="csc")
        zero = sp.csc_matrix((n, n))
        step = sp.identity(n, format="csc") - sp.eye(n, k=-1, format="csc")
        matrix = sp.vstack(
            [
                sp.hstack([eye, -eye, eye, zero]),
                sp.hstack([-self._eta_in * eye, eye / self._eta_out, zero, step]),
                sp.hstack([eye / self._max_c, eye / self._max_d, zero, zero]),
            ]
        ).tocsc()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = 4 * n, 3 * n
        lp.col_cost_ = np.zeros(4 * n)
        lp.col_lower_ = np.zeros(4 * n)
        usable = self.limits.usable_kwh
        lp.col_upper_ = np.concatenate(
            [np.full(n, self._max_c), np.full(n, self._max_d), np.full(n, 1.0), np.full(n, usable)]
        )
        lp.row_lower_ = np.concatenate([np.zeros(2 * n), np.full(n, -highspy.kHighsInf)])
        lp.row_upper_ = np.concatenate([np.full(n, highspy.kHighsInf), np.zeros(n), np.ones(n)])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = 4 * n, 3 * n
        lp.a_matrix_.start_ = matrix.indptr
        lp.a_matrix_.index_ = matrix.indices
        lp.a_matrix_.value_ = matrix.data
        model = _new_highs()
        model.setOptionValue("presolve", "off")
        model.passModel(lp)
        self._models[n] = model
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
        load, pv = np.asarray(load, "float64"), np.asarray(pv, "float64")
        buy, sell = np.asarray(buy, "float64"), np.asarray(sell, "float64")
        usable = self.limits.usable_kwh
        start_kwh = float(min(max(start_kwh, 0.0), usable))
        idle = _idle(load, pv, buy, sell, start_kwh)
        if not self.can_move:
            return idle
        n = len(load)
        model = self._model(n)
        valued = np.minimum(sell, buy)
        model.changeColsCost(3 * n, self._index(3 * n), np.concatenate([buy, -buy, buy - valued]))
        varying = self._varying(n)
        lower = np.zeros(n + 1)
        lower[-1] = start_kwh
        upper = np.append(np.maximum(pv - load, 0.0) + self._max_d, usable)
        model.changeColsBounds(n + 1, varying, lower, upper)
        row_lower = np.append(pv - load, start_kwh)
        row_upper = np.append(np.full(n, highspy.kHighsInf), start_kwh)
        model.changeRowsBounds(n + 1, self._index(n + 1), row_lower, row_upper)
        model.run()
        status = model.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            model.clearSolver()
            model.run()
            status = model.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise DispatchError(f"HiGHS: {model.modelStatusToString(status)}")
        x = np.asarray(model.getSolution().col_value)
        charge = np.clip(x[:n], 0.0, self._max_c)
        discharge = np.clip(x[n : 2 * n], 0.0, self._max_d)
        level = np.clip(x[3 * n :], 0.0, usable)
        imp, exp = settle(load, pv, charge, discharge)
        cost = float(buy @ imp - sell @ exp)
        if cost > idle.cost_pln:
            return idle
        return Dispatch(charge, discharge, imp, exp, level, start_kwh, cost)
