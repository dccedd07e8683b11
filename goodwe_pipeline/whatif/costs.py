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


FLOWS = ("grid_import_kwh", "grid_export_kwh", "battery_charge_kwh", "battery_discharge_kwh")


@dataclass(frozen=True)
class Days:
    """The usable device-days of ``MeasuredDays.quarters``, in its order: day ``i`` is rows
    ``begin[i]`` to ``begin[i] + length[i]``; ``index`` gives each row's day."""

    device: list[str]
    day: list[date]
    begin: np.ndarray
    length: np.ndarray
    index: np.ndarray

    @classmethod
    def of(cls, quarters: pd.DataFrame) -> Days:
        device_codes, devices = pd.factorize(quarters[DEVICE_ID])
        day_codes, _ = pd.factorize(quarters["day"])
        new = np.ones(len(quarters), dtype=bool)
        new[1:] = (np.diff(device_codes) != 0) | (np.diff(day_codes) != 0)
        begin = np.flatnonzero(new)
        length = np.diff(np.append(begin, len(quarters)))
        return cls(
            [str(devices[c]) for c in device_codes[begin]],
            quarters["day"].iloc[begin].tolist(),
            begin,
            length,
            np.repeat(np.arange(len(begin)), length),
        )

    def sums(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.index, values, len(self.begin))


@dataclass(frozen=True)
class OfferCases:
    """One offer's three cases on every day of ``Days``, per quarter hour.

    ``flows[scenario]`` maps ``FLOWS`` to per-quarter-hour energies; ``priced[i]``: day ``i``
    has every price of the offer; ``best[i]``: its ``best_battery`` case exists (priced, and
    the charge level at midnight is known); ``level_start_kwh`` and ``level_end_kwh`` per
    day (NaN without ``best_battery``)."""

    offer: Offer
    buy: np.ndarray
    sell: np.ndarray
    zone_names: np.ndarray
    zone_codes: np.ndarray
    flows: dict[str, dict[str, np.ndarray]]
    priced: np.ndarray
    best: np.ndarray
    level_start_kwh: np.ndarray
    level_end_kwh: np.ndarray


def offer_cases(
    measured: MeasuredDays,
    days: Days,
    catalogue: Catalogue,
    owner: Tariff,
    limits: dict[str, BatteryLimits],
) -> list[OfferCases]:
    """The three cases of every day under every offer. Each day's ``best_battery`` plans for
    all offers are one programme (``Dispatcher.solve_days``): the offers share the day's
    solar, load and starting level, and a HiGHS run costs more than the day's iterations."""
    q = measured.quarters
    local = pd.DatetimeIndex(q["local_time"])
    stored = {
        "market": q["market_pln_kwh"].to_numpy("float64"),
        "stored_buy": q["buy_pln_kwh"].to_numpy("float64"),
        "stored_sell": q["sell_pln_kwh"].to_numpy("float64"),
        "stored_zone": q["zone"].to_numpy(),
    }
    energy = {name: q[name].to_numpy("float64") for name in ENERGY_COLUMNS}
    load, pv = energy["load_kwh"], energy["pv_kwh"]
    zeros = np.zeros(len(q))
    without = settle(load, pv, zeros, zeros)
    shared = {
        AS_MEASURED: {name: energy[name] for name in FLOWS},
        WITHOUT_BATTERY: dict(zip(FLOWS, (*without, zeros, zeros), strict=True)),
    }
    soc = dict(
        zip(
            zip(measured.days[DEVICE_ID], measured.days["day"], strict=True),
            measured.days["soc_start_pct"],
            strict=True,
        )
    )
    soc_pct = np.array([soc[key] for key in zip(days.device, days.day, strict=True)], "float64")
    start = np.array(
        [
            limits[device].level_kwh(pct) if np.isfinite(pct) else np.nan
            for device, pct in zip(days.device, soc_pct, strict=True)
        ]
    )
    offers = catalogue.offers
    prices = [offer.prices(local, owner=owner, **stored) for offer in offers]
    buy = np.array([p[0] for p in prices])
    sell = np.array([p[1] for p in prices])
    priced = np.array(
        [days.sums(np.isnan(b) | np.isnan(s)) == 0 for b, s in zip(buy, sell, strict=True)]
    )
    best = priced & np.isfinite(start)
    plans = _best_battery(days, load, pv, buy, sell, start, best, limits)
    result = []
    for k, offer in enumerate(offers):
        zone_names, zone_codes = np.unique(
            np.asarray(prices[k][2]).astype(str), return_inverse=True
        )
        flows = {
            **shared,
            BEST_BATTERY: {name: values[k] for name, values in plans["flows"].items()},
        }
        result.append(
            OfferCases(
                offer,
                buy[k],
                sell[k],
                zone_names,
                zone_codes,
                flows,
                priced[k],
                best[k],
                np.where(best[k], start, np.nan),
                plans["level_end_kwh"][k],
            )
        )
    return result


def _best_battery(
    days: Days,
    load: np.ndarray,
    pv: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    start: np.ndarray,
    best: np.ndarray,
    limits: dict[str, BatteryLimits],
) -> dict[str, Any]:
    """``best_battery`` per offer (rows of ``buy``) where ``best`` (offer x day), one
    programme per device-day for all its offers; NaN elsewhere."""
    n_offers, n = buy.shape
    flows = {name: np.full((n_offers, n), np.nan) for name in FLOWS}
    level_end = np.full((n_offers, len(days.begin)), np.nan)
    device = np.asarray(days.device, dtype=object)
    for name, lim in limits.items():
        day, offer = np.nonzero(best.T & (device == name)[:, None])
        if len(day) == 0:
            continue
        lengths = days.length[day]
        ends = np.cumsum(lengths)
        quarter = np.arange(ends[-1]) - np.repeat(ends - lengths, lengths)
        quarter += np.repeat(days.begin[day], lengths)
        row = np.repeat(offer, lengths)
        plan = Dispatcher(lim).solve_days(
            load[quarter],
            pv[quarter],
            buy[row, quarter],
            sell[row, quarter],
            start[day],
            lengths,
            np.bincount(day)[np.unique(day)],
        )
        for flow, values in zip(
            FLOWS,
            (plan.grid_import_kwh, plan.grid_export_kwh, plan.charge_kwh, plan.discharge_kwh),
            strict=True,
        ):
            flows[flow][row, quarter] = values
        level_end[offer, day] = plan.level_kwh[ends - 1]
    return {"flows": flows, "level_end_kwh": level_end}


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
    skipped = list(measured.skipped)
    if measured.quarters.empty:
        return Comparison(pd.DataFrame(columns=list(COMPARISON_COLUMNS)), skipped)
    days = Days.of(measured.quarters)
    frames = []
    for cases in offer_cases(measured, days, catalogue, owner, limits):
        skipped += _skipped(days, cases)
        frames.append(_rows(days, cases))
    frame = pd.concat(frames, ignore_index=True)[list(COMPARISON_COLUMNS)]
    return Comparison(frame, skipped)


def _skipped(days: Days, cases: OfferCases) -> list[tuple[str | None, date, str]]:
    offer = cases.offer
    what = "market" if offer.kind == "dynamic" else "export (RCE or market)"
    unknown_level = cases.priced & ~cases.best & offer.current
    found = []
    for i in np.flatnonzero(~cases.priced | unknown_level):
        if not cases.priced[i]:
            reason = f"offer {offer.name}: no {what} price for every quarter hour"
        else:
            reason = "best_battery: no charge level reading within 15 min of midnight"
        found.append((days.device[i], days.day[i], reason))
    return found


def _rows(days: Days, cases: OfferCases) -> pd.DataFrame:
    """One row per priced day and case, in day then ``SCENARIOS`` order."""
    offer, buy, sell = cases.offer, cases.buy, cases.sell
    n_days, n_zones = len(days.begin), len(cases.zone_names)
    cell = days.index * n_zones + cases.zone_codes
    present = np.bincount(cell, minlength=n_days * n_zones).reshape(n_days, n_zones) > 0
    exists = np.stack([cases.priced, cases.priced, cases.best], axis=1)
    columns: dict[str, list[np.ndarray]] = {}
    zone_figures = []
    for scenario in SCENARIOS:
        flow = cases.flows[scenario]
        imp, exp = flow["grid_import_kwh"], flow["grid_export_kwh"]
        cost = imp * buy - exp * sell
        figures = {
            "bought_kwh": days.sums(imp),
            "sold_kwh": days.sums(exp),
            "import_cost_pln": days.sums(imp * buy),
            "export_revenue_pln": days.sums(exp * sell),
            "battery_charge_kwh": days.sums(flow["battery_charge_kwh"]),
            "battery_discharge_kwh": days.sums(flow["battery_discharge_kwh"]),
        }
        for name, values in figures.items():
            columns.setdefault(name, []).append(values)
        per_zone = [
            np.bincount(cell, values, n_days * n_zones).reshape(n_days, n_zones).tolist()
            for values in (imp, exp, cost)
        ]
        zone_figures.append(per_zone)
    picked = {name: np.stack(values, axis=1)[exists] for name, values in columns.items()}
    n_rows = len(picked["bought_kwh"])
    day_of, scenario_of = np.nonzero(exists)
    fees = np.array([offer.fee_of_day(day) for day in days.day])[day_of]
    energy_cost = picked["import_cost_pln"] - picked["export_revenue_pln"]
    levels = np.full((n_days, len(SCENARIOS)), np.nan)
    level_end = levels.copy()
    levels[:, -1], level_end[:, -1] = cases.level_start_kwh, cases.level_end_kwh
    names = cases.zone_names.astype(str).tolist()
    zones_of_day = [[z for z, here in enumerate(row) if here] for row in present.tolist()]
    zones = [
        {
            names[z]: {
                "bought_kwh": round(zone_figures[s][0][d][z], 4),
                "sold_kwh": round(zone_figures[s][1][d][z], 4),
                "cost_pln": round(zone_figures[s][2][d][z], 4),
            }
            for z in zones_of_day[d]
        }
        for d, s in zip(day_of.tolist(), scenario_of.tolist(), strict=True)
    ]
    return pd.DataFrame(
        {
            "day": [days.day[d] for d in day_of],
            DEVICE_ID: [days.device[d] for d in day_of],
            "offer": offer.name,
            "scenario": np.asarray(SCENARIOS, dtype=object)[scenario_of],
            "current": offer.current,
            "quarters": days.length[day_of],
            **{name: picked[name] for name in ("bought_kwh", "sold_kwh")},
            "import_cost_pln": picked["import_cost_pln"],
            "export_revenue_pln": picked["export_revenue_pln"],
            "energy_cost_pln": energy_cost,
            "fixed_fees_pln": fees,
            "total_cost_pln": energy_cost + fees,
            "battery_charge_kwh": picked["battery_charge_kwh"],
            "battery_discharge_kwh": picked["battery_discharge_kwh"],
            "level_start_kwh": levels[exists],
            "level_end_kwh": level_end[exists],
            "zones": zones,
            "offer_version": offer.version,
        },
        index=pd.RangeIndex(n_rows),
    )


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
