"""A day's battery sessions as bars, with the optimiser's plans beside them.

A charge bar is stacked: energy from the grid below, from the panels above. A discharge
bar is the energy the battery gave. A plan (when the optimiser made one) is a hatched bar
of the energy it meant to charge. The average price of each session is a dot on the
right-hand axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from goodwe_pipeline.charts.marks import note
from goodwe_pipeline.charts.render import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = {"grid": "#d62728", "pv": "#f2a900", "discharge": "#9467bd", "plan": "#ffffff"}
LEGEND_HEADROOM = 1.35
"""The kWh axis reaches this far above the tallest bar, so the legend sits above the bars."""


@dataclass(frozen=True)
class SessionBars:
    """One row per bar: ``label``, ``kind`` (charge/discharge/plan), ``grid_kwh``,
    ``pv_kwh``, ``energy_kwh`` (the bar's height) and ``price_pln_kwh``."""

    day: date
    bars: pd.DataFrame
    title: str


def _span(start: pd.Series, end: pd.Series, tz: str) -> pd.Series:
    """Local ``HH:MM–HH:MM`` of each row."""

    def clock(times: pd.Series) -> pd.Series:
        return pd.to_datetime(times, utc=True).dt.tz_convert(tz).dt.strftime("%H:%M")

    return clock(start) + "–" + clock(end)


def session_bars(
    sessions: pd.DataFrame, plans: pd.DataFrame, day: date, tz: str, label: str = ""
) -> SessionBars:
    """``sessions``: ``battery_sessions`` rows of the day; ``plans``: ``planned_vs_actual`` rows."""
    ordered = sessions.sort_values("start_time")
    charge = ordered["kind"] == "charge"
    actual = pd.DataFrame(
        {
            "label": _span(ordered["start_time"], ordered["end_time"], tz) + "\n" + ordered["kind"],
            "kind": ordered["kind"],
            "grid_kwh": ordered["grid_energy_kwh"].where(charge),
            "pv_kwh": ordered["pv_energy_kwh"].where(charge),
            "energy_kwh": ordered["energy_kwh"],
            "price_pln_kwh": ordered["avg_price_pln_kwh"],
        }
    )
    planned = pd.DataFrame(
        {
            "label": _span(plans["planned_start"], plans["planned_end"], tz) + "\nplan",
            "kind": "plan",
            "grid_kwh": np.nan,
            "pv_kwh": np.nan,
            "energy_kwh": plans["planned_kwh"],
            "price_pln_kwh": np.nan,
        }
    )
    frames = [f for f in (actual, planned) if len(f)]
    bars = pd.concat(frames, ignore_index=True) if frames else actual.iloc[0:0]
    charged = float(actual.loc[actual["kind"] == "charge", "energy_kwh"].sum())
    given = float(actual.loc[actual["kind"] == "discharge", "energy_kwh"].sum())
    charges = int((actual["kind"] == "charge").sum())
    discharges = int((actual["kind"] == "discharge").sum())
    title = (
        f"{day.isoformat()}{f' · {label}' if label else ''} · "
        f"{charges} charge{'s' * (charges != 1)} ({charged:.1f} kWh) · "
        f"{discharges} discharge{'s' * (discharges != 1)} ({given:.1f} kWh)"
    )
    return SessionBars(day, bars.reset_index(drop=True), title)


def sessions_figure(series: SessionBars) -> Figure:
    bars = series.bars
    figure = new_figure(
        9.0, 4.0, margins={"left": 0.07, "right": 0.92, "top": 0.92, "bottom": 0.14}
    )
    ax = figure.subplots()
    ax.set_ylabel("kWh")
    if bars.empty:
        note(ax, "no battery sessions this day")
        ax.set_xticks([])
        figure.suptitle(series.title, fontsize=9)
        return figure
    x = np.arange(len(bars))
    charge = (bars["kind"] == "charge").to_numpy()
    grid = np.where(charge, bars["grid_kwh"].fillna(0.0), 0.0)
    pv = np.where(charge, bars["pv_kwh"].fillna(0.0), 0.0)
    ax.bar(
        x[charge], grid[charge], color=COLOURS["grid"], label="charged from grid", gid="grid_kwh"
    )
    ax.bar(
        x[charge],
        pv[charge],
        bottom=grid[charge],
        color=COLOURS["pv"],
        label="charged from panels",
        gid="pv_kwh",
    )
    given = (bars["kind"] == "discharge").to_numpy()
    ax.bar(
        x[given],
        bars["energy_kwh"].to_numpy()[given],
        color=COLOURS["discharge"],
        label="discharged",
        gid="discharge_kwh",
    )
    plan = (bars["kind"] == "plan").to_numpy()
    if plan.any():
        ax.bar(
            x[plan],
            bars["energy_kwh"].to_numpy()[plan],
            color=COLOURS["plan"],
            edgecolor="#333333",
            hatch="//",
            label="planned charge",
            gid="planned_kwh",
        )
    ax.set_xticks(x, bars["label"].tolist(), fontsize=7)
    tallest = np.nanmax(np.concatenate([grid + pv, bars["energy_kwh"].to_numpy("float64")]))
    ax.set_ylim(0.0, max(0.1, float(np.nan_to_num(tallest)) * LEGEND_HEADROOM))
    price_axis = ax.twinx()
    price_axis.set_ylabel("average PLN/kWh")
    prices = bars["price_pln_kwh"].to_numpy("float64")
    price_axis.plot(x, prices, "o", color="#333333", label="average price", gid="price_pln_kwh")
    if np.isfinite(prices).any():
        low, high = float(np.nanmin(prices)), float(np.nanmax(prices))
        price_axis.set_ylim(min(0.0, low * 1.1), max(0.1, high * LEGEND_HEADROOM))
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = price_axis.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, loc="upper center", ncols=3, fontsize=7)
    figure.suptitle(series.title, fontsize=9)
    return figure
