"""The three cases of each day, priced under each offer of the catalogue.

- ``as_measured``: the grid import and export that really happened;
- ``without_battery``: the same solar and house load per quarter hour, no battery: the
  surplus is exported, the deficit imported;
- ``best_battery``: the battery run best for the offer's prices (``dispatch``), from the
  measured charge level at midnight.

Energy cost = import at the buy price - export at the export price; the offer's monthly
fees are added as the day's share (``fixed_fees_pln``) in ``total_cost_pln``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from goodwe_pipeline.prices.tariffs import Tariff
from goodwe_pipeline.readings import DEVICE_ID
from goodwe_pipeline.whatif.battery import BatteryLimits
from goodwe_pipeline.whatif.catalogue import Catalogue, Offer
from goodwe_pipeline.whatif.dispatch import Dispatcher, settle
from goodwe_pipeline.whatif.quarter_hours import ENERGY_COLUMNS, MeasuredDays

AS_MEASURED = "as_measured"
WITHOUT_BATTERY = "without_battery"
BEST_BATTERY = "best_battery"
SCENARIOS = (AS_MEASURED, WITHOUT_BATTERY, BEST_BATTERY)
COMPARISON_COLUMNS = (
    "day",
    DEVICE_ID,
    "offer",
    "scenario",
    "current",
    "quarters",
    "bought_kwh",
    "sold_kwh",
    "import_cost_pln",
    "export_revenue_pln",
    "energy_cost_pln",
    "fixed_fees_pln",
    "total_cost_pln",
    "battery_charge_kwh",
    "battery_discharge_kwh",
    "level_start_kwh",
    "level_end_kwh",
    "zones",
    "offer_version",
)


@dataclass(frozen=True)
class Case:
    """One case of one day under one offer, per quarter hour."""

    scenario: str
    grid_import_kwh: np.ndarray
    grid_export_kwh: np.ndarray
    charge_kwh: np.ndarray
    discharge_kwh: np.ndarray
    level_start_kwh: float = float("nan")
    level_end_kwh: float = float("nan")


def day_cases(
    energy: dict[str, np.ndarray],
    buy: np.ndarray,
    sell: np.ndarray,
    dispatcher: Dispatcher,
    start_kwh: float,
) -> list[Case]:
    """The three cases of one device-day; ``energy`` maps ``ENERGY_COLUMNS`` to the day's
    quarter hours in time order. ``best_battery`` is left out when the charge level at
    midnight is unknown (``start_kwh`` NaN)."""
    load, pv = energy["load_kwh"], energy["pv_kwh"]
    zeros = np.zeros(len(load))
    cases = [
        Case(
            AS_MEASURED,
            energy["grid_import_kwh"],
            energy["grid_export_kwh"],
            energy["battery_charge_kwh"],
            energy["battery_discharge_kwh"],
        ),
        Case(WITHOUT_BATTERY, *settle(load, pv, zeros, zeros), zeros, zeros),
    ]
    if np.isfinite(start_kwh):
        plan = dispatcher.solve(load, pv, buy, sell, start_kwh)
        cases.append(
            Case(
                BEST_BATTERY,
                plan.grid_import_kwh,
                plan.grid_export_kwh,
                plan.charge_kwh,
                plan.discharge_kwh,
                plan.start_kwh,
                float(plan.level_kwh[-1]),
            )
        )
    return cases


def _zones(
    names: np.ndarray, codes: np.ndarray, case: Case, buy: np.ndarray, sell: np.ndarray
) -> dict[str, Any]:
    """Bought, sold and cost per zone (``codes`` index ``names``) of the zones in the day."""
    k = len(names)
    present = np.bincount(codes, minlength=k) > 0
    bought = np.bincount(codes, case.grid_import_kwh, k)
    sold = np.bincount(codes, case.grid_export_kwh, k)
    cost = np.bincount(codes, case.grid_import_kwh * buy - case.grid_export_kwh * sell, k)
    return {
        str(names[i]): {
            "bought_kwh": round(float(bought[i]), 4),
            "sold_kwh": round(float(sold[i]), 4),
            "cost_pln": round(float(cost[i]), 4),
        }
        for i in np.flatnonzero(present)
    }


def _row(
    day: date, device: str, offer: Offer, case: Case, zones: dict[str, Any], buy, sell, fee: float
) -> dict[str, Any]:
    import_cost = float(case.grid_import_kwh @ buy)
    export_revenue = float(case.grid_export_kwh @ sell)
    energy = import_cost - export_revenue
    return {
        "day": day,
        DEVICE_ID: device,
        "offer": offer.name,
        "scenario": case.scenario,
        "current": offer.current,
        "quarters": len(buy),
        "bought_kwh": float(case.grid_import_kwh.sum()),
        "sold_kwh": float(case.grid_export_kwh.sum()),
        "import_cost_pln": import_cost,
        "export_revenue_pln": export_revenue,
        "energy_cost_pln": energy,
        "fixed_fees_pln": fee,
        "total_cost_pln": energy + fee,
        "battery_charge_kwh": float(case.charge_kwh.sum()),
        "battery_discharge_kwh": float(case.discharge_kwh.sum()),
        "level_start_kwh": case.level_start_kwh,
        "level_end_kwh": case.level_end_kwh,
        "zones": zones,
        "offer_version": offer.version,
    }


@dataclass(frozen=True)
class Comparison:
    rows: pd.DataFrame
    """``COMPARISON_COLUMNS``, one row per day, device, offer and case."""
    skipped: list[tuple[str | None, date, str]]
    """(device, day, reason): days, offers or cases that could not be priced."""


def compare(
    measured: MeasuredDays,
    catalogue: Catalogue,
    owner: Tariff,
    limits: dict[str, BatteryLimits],
) -> Comparison:
    """Every usable device-day of ``measured`` in the three cases under every offer.

    ``limits`` holds each device's battery limits; ``owner`` is the tariff the stored
    prices were computed with (``GOODWE_TARIFF_FILE``).
    """
    q = measured.quarters
    skipped = list(measured.skipped)
    rows: list[dict[str, Any]] = []
    if q.empty:
        return Comparison(pd.DataFrame(columns=list(COMPARISON_COLUMNS)), skipped)
    keys = list(zip(q[DEVICE_ID].to_numpy(dtype=object).tolist(), q["day"].tolist(), strict=True))
    bounds = [0] + [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]] + [len(keys)]
    starts = {
        (dev, d): soc
        for dev, d, soc in zip(
            measured.days[DEVICE_ID],
            measured.days["day"],
            measured.days["soc_start_pct"],
            strict=True,
        )
    }
    stored = {
        "market": q["market_pln_kwh"].to_numpy("float64"),
        "stored_buy": q["buy_pln_kwh"].to_numpy("float64"),
        "stored_sell": q["sell_pln_kwh"].to_numpy("float64"),
        "stored_zone": q["zone"].to_numpy(),
    }
    local = pd.DatetimeIndex(q["local_time"])
    energies = {name: q[name].to_numpy("float64") for name in ENERGY_COLUMNS}
    dispatchers = {device: Dispatcher(lim) for device, lim in limits.items()}
    for offer in catalogue.offers:
        buy_all, sell_all, zone_all = offer.prices(local, owner=owner, **stored)
        zone_names, zone_codes = np.unique(np.asarray(zone_all).astype(str), return_inverse=True)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            device, day = keys[lo]
            buy, sell, codes = buy_all[lo:hi], sell_all[lo:hi], zone_codes[lo:hi]
            if np.isnan(buy).any() or np.isnan(sell).any():
                what = "market" if offer.kind == "dynamic" else "export (RCE or market)"
                skipped.append(
                    (device, day, f"offer {offer.name}: no {what} price for every quarter hour")
                )
                continue
            dispatcher = dispatchers[device]
            soc = starts[(device, day)]
            start_kwh = dispatcher.limits.level_kwh(soc) if np.isfinite(soc) else np.nan
            if not np.isfinite(soc) and offer.current:
                skipped.append(
                    (device, day, "best_battery: no charge level reading within 15 min of midnight")
                )
            fee = offer.fee_of_day(day)
            energy = {name: values[lo:hi] for name, values in energies.items()}
            for case in day_cases(energy, buy, sell, dispatcher, start_kwh):
                zones = _zones(zone_names, codes, case, buy, sell)
                rows.append(_row(day, device, offer, case, zones, buy, sell, fee))
    frame = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    return Comparison(frame, skipped)


COST_TOLERANCE_PLN = 0.01


def consistency_problems(rows: pd.DataFrame, daily: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``tariff_comparison`` that contradict the daily report or themselves.

    ``rows`` has ``day``, ``device_id``, ``offer``, ``scenario``, ``current``,
    ``energy_cost_pln``, ``total_cost_pln``; ``daily`` has ``day``, ``device_id``,
    ``net_cost_pln``. Problems: the current offer as measured differs from the daily report's
    net cost by more than ``COST_TOLERANCE_PLN``; the battery run best costs more than no
    battery. One row per problem: ``day``, ``device_id``, ``offer``, ``problem``.
    """
    columns = ["day", DEVICE_ID, "offer", "problem"]
    problems: list[dict[str, Any]] = []
    measured = rows[rows["current"].astype(bool) & (rows["scenario"] == AS_MEASURED)]
    joined = measured.merge(daily, on=["day", DEVICE_ID], how="inner")
    off = (joined["energy_cost_pln"] - joined["net_cost_pln"]).abs() > COST_TOLERANCE_PLN
    for _, row in joined[off].iterrows():
        problems.append(
            {
                "day": row["day"],
                DEVICE_ID: row[DEVICE_ID],
                "offer": row["offer"],
                "problem": f"as measured {row['energy_cost_pln']:.2f} PLN, daily report "
                f"{row['net_cost_pln']:.2f} PLN",
            }
        )
    cases = rows.pivot_table(
        index=["day", DEVICE_ID, "offer"], columns="scenario", values="total_cost_pln"
    )
    if {BEST_BATTERY, WITHOUT_BATTERY} <= set(cases.columns):
        worse = cases[cases[BEST_BATTERY] > cases[WITHOUT_BATTERY] + COST_TOLERANCE_PLN]
        for (day, device, offer), row in worse.iterrows():
            problems.append(
                {
                    "day": day,
                    DEVICE_ID: device,
                    "offer": offer,
                    "problem": f"best battery {row[BEST_BATTERY]:.2f} PLN > no battery "
                    f"{row[WITHOUT_BATTERY]:.2f} PLN",
                }
            )
    return pd.DataFrame(problems, columns=columns)
