"""The last 30 and 90 days: production, consumption, import and export as bars, savings as a line.

Days are summed over the devices (the house's view, as the Grafana "Daily energy" panel
sums them); a day without a report is an empty slot, never a zero bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from goodwe_pipeline.charts.render import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANELS = (30, 90)
BARS: tuple[tuple[str, str, str], ...] = (
    ("pv_kwh", "produced", "#f2a900"),
    ("load_kwh", "used", "#444444"),
    ("grid_import_kwh", "bought", "#d62728"),
    ("grid_export_kwh", "sold", "#2ca02c"),
)


@dataclass(frozen=True)
class TrendBars:
    """Per panel (30, 90 days): one row per calendar day ending ``end``, the bars' kWh and
    ``savings_pln``; ``NaN`` where the day has no report."""

    end: date
    panels: dict[int, pd.DataFrame]


def trend_bars(daily: pd.DataFrame, end: date) -> TrendBars:
    """``daily``: ``daily_energy`` rows (``day`` as date) of any devices."""
    columns = [c for c, _, _ in BARS] + ["savings_pln"]
    summed = (
        daily.groupby("day")[columns].sum(min_count=1)
        if len(daily)
        else pd.DataFrame(columns=columns, dtype="float64")
    )
    panels = {}
    for days in PANELS:
        calendar = [end - timedelta(days=days - 1 - i) for i in range(days)]
        panels[days] = summed.reindex(calendar).astype("float64").rename_axis("day")
    return TrendBars(end, panels)


def trends_figure(series: TrendBars) -> Figure:
    figure = new_figure(
        9.0, 6.0, margins={"left": 0.07, "right": 0.92, "top": 0.95, "bottom": 0.06, "hspace": 0.3}
    )
    axes = figure.subplots(len(PANELS), 1)
    for ax, days in zip(axes, PANELS, strict=True):
        frame = series.panels[days]
        x = np.arange(len(frame))
        width = 0.8 / len(BARS)
        for i, (column, label, colour) in enumerate(BARS):
            ax.bar(
                x + (i - 1.5) * width,
                frame[column].to_numpy(),
                width,
                label=label,
                color=colour,
                gid=f"{days}d_{column}",
            )
        ax.set_ylabel("kWh/day")
        ax.set_xlim(-0.5, len(frame) - 0.5)
        step = max(1, len(frame) // 10)
        ax.set_xticks(x[::step], [d.strftime("%m-%d") for d in frame.index[::step]], fontsize=7)
        savings_axis = ax.twinx()
        savings_axis.plot(
            x,
            frame["savings_pln"].to_numpy(),
            color="#1f77b4",
            marker=".",
            lw=1.2,
            label="saved PLN",
            gid=f"{days}d_savings_pln",
        )
        savings_axis.set_ylabel("saved PLN/day")
        total = frame["savings_pln"].sum(min_count=1)
        known = int(frame["pv_kwh"].notna().sum())
        saved = "?" if pd.isna(total) else f"{total:.2f}"
        ax.set_title(
            f"last {days} days to {series.end.isoformat()}: {known} days with reports, "
            f"saved {saved} PLN",
            fontsize=8.5,
        )
        handles, labels = ax.get_legend_handles_labels()
        more, more_labels = savings_axis.get_legend_handles_labels()
        ax.legend(handles + more, labels + more_labels, loc="upper left", fontsize=7, ncols=5)
    return figure
