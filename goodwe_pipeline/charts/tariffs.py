"""Charts of the tariff what-if: cost per offer in the three cases, and the advice."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from goodwe_pipeline.charts.render import new_figure, png_bytes

CASES = (
    ("as_measured", "as measured", "#4c72b0"),
    ("without_battery", "without the battery", "#c44e52"),
    ("best_battery", "battery run best", "#55a868"),
)


def _grouped_bars(ax, offers: list[str], values: dict[str, list[float]]) -> None:
    x = np.arange(len(offers))
    width = 0.8 / len(CASES)
    for i, (case, label, colour) in enumerate(CASES):
        ax.bar(x + (i - 1) * width, values[case], width, label=label, color=colour)
    ax.set_xticks(x, offers)
    ax.axhline(0, color="#444", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def comparison_chart(rows: pd.DataFrame, title: str) -> bytes:
    """Total cost (PLN, fees included) per offer and case, summed over ``rows``' days."""
    totals = rows.pivot_table(
        index="offer", columns="scenario", values="total_cost_pln", aggfunc="sum"
    )
    offers = list(dict.fromkeys(rows["offer"]))
    figure = new_figure(9.0, 4.0)
    ax = figure.add_subplot()
    values = {
        case: [float(totals.at[o, case]) if case in totals else np.nan for o in offers]
        for case, _, _ in CASES
    }
    _grouped_bars(ax, offers, values)
    ax.set_ylabel("PLN")
    ax.set_title(title)
    return png_bytes(figure)


def advice_chart(window: dict[str, Any]) -> bytes:
    """Yearly cost per offer and case over one advice window, the current payment marked."""
    offers = list(window["offers"])
    scale = 365.0 / window["days"]
    values = {
        case: [window["offers"][o][f"{case}_pln"] * scale for o in offers] for case, _, _ in CASES
    }
    figure = new_figure(9.0, 4.0)
    ax = figure.add_subplot()
    _grouped_bars(ax, offers, values)
    ax.axhline(window["paid_pln"] * scale, color="#333", linestyle="--", linewidth=1)
    ax.set_ylabel("PLN per year")
    ax.set_title(
        f"Per year, from the {window['days']} days {window['first_day']}..{window['last_day']} "
        f"(dashed: what {window['current']} cost)"
    )
    return png_bytes(figure)
