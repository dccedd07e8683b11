"""Which offer would have been cheapest, and what the battery is worth, over 30/90/365 days.

A window counts only the days compared in full (every offer of the catalogue in all three
cases), so every offer is judged on the same days. Yearly figures scale the window's
figures to 365 days. Costs include each offer's monthly fees.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from goodwe_pipeline.readings import DEVICE_ID
from goodwe_pipeline.whatif.catalogue import Catalogue
from goodwe_pipeline.whatif.costs import AS_MEASURED, BEST_BATTERY, SCENARIOS, WITHOUT_BATTERY

WINDOWS = (30, 90, 365)
REPORT_TYPE = "tariff_advice"


def _window(rows: pd.DataFrame, catalogue: Catalogue, last: date, length: int) -> dict[str, Any]:
    first = last - timedelta(days=length - 1)
    inside = rows[(rows["day"] >= first) & (rows["day"] <= last)]
    per_day = inside.groupby("day").size()
    full = per_day.index[per_day == len(catalogue.offers) * len(SCENARIOS)]
    inside = inside[inside["day"].isin(full)]
    n = len(full)
    window: dict[str, Any] = {"window_days": length, "days": n}
    if n == 0:
        return window
    totals = inside.pivot_table(
        index="offer", columns="scenario", values="total_cost_pln", aggfunc="sum"
    )
    current = catalogue.current.name
    paid = float(totals.loc[current, AS_MEASURED])
    scale = 365.0 / n
    offers = {}
    for offer in catalogue.names:
        measured = float(totals.loc[offer, AS_MEASURED])
        best = float(totals.loc[offer, BEST_BATTERY])
        without = float(totals.loc[offer, WITHOUT_BATTERY])
        offers[offer] = {
            "as_measured_pln": round(measured, 2),
            "without_battery_pln": round(without, 2),
            "best_battery_pln": round(best, 2),
            "battery_value_pln": round(without - best, 2),
            "battery_value_pln_per_year": round((without - best) * scale, 2),
            "yearly_saving_as_measured_pln": round((paid - measured) * scale, 2),
            "yearly_saving_best_battery_pln": round((paid - best) * scale, 2),
        }
    cheapest_measured = min(catalogue.names, key=lambda o: offers[o]["as_measured_pln"])
    cheapest_best = min(catalogue.names, key=lambda o: offers[o]["best_battery_pln"])
    window.update(
        {
            "first_day": min(full).isoformat(),
            "last_day": max(full).isoformat(),
            "current": current,
            "paid_pln": round(paid, 2),
            "cheapest_as_measured": cheapest_measured,
            "cheapest_best_battery": cheapest_best,
            "saving_best_battery_pln": round(paid - offers[cheapest_best]["best_battery_pln"], 2),
            "measured_battery_value_pln": round(offers[current]["without_battery_pln"] - paid, 2),
            "offers": offers,
        }
    )
    return window


def summary_line(window: dict[str, Any]) -> str:
    """One plain sentence for the owner about a window."""
    n = window["days"]
    if n == 0:
        return "No day has been compared in full yet: run `tariff_comparison` first."
    period = f"the last {n} days" if n == window["window_days"] else f"the {n} days compared"
    current = window["current"]
    yours = "your current tariff" if current == "current" else f"your {current}"
    best = window["cheapest_best_battery"]
    saving = window["saving_best_battery_pln"]
    value = window["offers"][best]["battery_value_pln"]
    if best == current or saving < 0.5:
        head = f"{yours[0].upper()}{yours[1:]} was the cheapest over {period}"
    else:
        head = (
            f"{best} with the battery run best would have cost {saving:.0f} PLN less than "
            f"{yours} over {period}"
        )
    return f"{head}; on {best} the battery is worth {value:.0f} PLN over that time."


def advise(rows: pd.DataFrame, catalogue: Catalogue, last: date) -> list[dict[str, Any]]:
    """One ``analytics_reports`` row per device for ``last``: the 30/90/365-day windows
    and the summary line of the longest window with days."""
    offers = set(catalogue.names)
    rows = rows[rows["offer"].isin(offers)]
    out = []
    for device, mine in rows.groupby(DEVICE_ID, sort=True):
        windows = {f"{w}d": _window(mine, catalogue, last, w) for w in WINDOWS}
        longest = max(windows.values(), key=lambda w: (w["days"], w["window_days"]))
        out.append(
            {
                "report_type": REPORT_TYPE,
                "report_date": last,
                DEVICE_ID: device,
                "report_data": {"windows": windows, "summary": summary_line(longest)},
            }
        )
    return out


def advice_markdown(document: dict[str, Any]) -> str:
    """The windows as a table per offer: yearly saving against the current tariff and the
    battery's yearly value."""
    lines = [f"**{document['summary']}**", ""]
    for name, window in document["windows"].items():
        if not window["days"]:
            continue
        table = pd.DataFrame(
            {
                offer: {
                    "as measured PLN": f["as_measured_pln"],
                    "best battery PLN": f["best_battery_pln"],
                    "no battery PLN": f["without_battery_pln"],
                    "saving/yr (best battery) PLN": f["yearly_saving_best_battery_pln"],
                    "battery value/yr PLN": f["battery_value_pln_per_year"],
                }
                for offer, f in window["offers"].items()
            }
        ).T
        lines += [f"{name} ({window['days']} days compared):", "", table.to_markdown(), ""]
    return "\n".join(lines)
