"""One day of one inverter: power flows, battery charge level, buy price and sessions.

The powers are each quarter hour's energy from the daily report (``DailyEnergy.quarters``)
as the average power of that quarter (kWh x 4 = kW), so the areas under the lines are the
day's kWh in the title. The charge level is the mean of the quarter's readings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from goodwe_pipeline.charts.marks import note
from goodwe_pipeline.charts.render import new_figure
from goodwe_pipeline.charts.timeaxis import as_numbers, day_slots, local_hours_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

QUARTERS_PER_HOUR = 4
POWER_SERIES: tuple[tuple[str, str, str], ...] = (
    ("pv_kw", "solar", "#f2a900"),
    ("load_kw", "house", "#444444"),
    ("grid_import_kw", "bought", "#d62728"),
    ("grid_export_kw", "sold", "#2ca02c"),
    ("battery_kw", "battery (+ out, − in)", "#1f77b4"),
)
SESSION_COLOURS = {"charge": "#1f77b4", "discharge": "#9467bd"}


@dataclass(frozen=True)
class DaySeries:
    """What the day chart draws: one row per quarter hour (UTC ``slots``) and the sessions."""

    day: date
    tz: str
    slots: pd.DatetimeIndex
    power_kw: pd.DataFrame
    soc_pct: pd.Series
    buy_pln_kwh: pd.Series
    sessions: pd.DataFrame
    title: str


def _soc_by_quarter(soc: pd.Series, slots: pd.DatetimeIndex) -> pd.Series:
    if soc.empty:
        return pd.Series(np.nan, index=slots)
    values = pd.Series(soc.to_numpy("float64"), index=pd.DatetimeIndex(soc.index).tz_convert("UTC"))
    return values.groupby(values.index.floor("15min")).mean().reindex(slots)


def headline(figures: Mapping[str, Any]) -> str:
    """The day's key figures in one line: energies in kWh, money in PLN (unknown: ``?``)."""

    def number(name: str, digits: int) -> str:
        value = figures.get(name)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "?"
        return f"{float(value):.{digits}f}"

    return (
        f"solar {number('pv_kwh', 1)} · house {number('load_kwh', 1)} · "
        f"bought {number('grid_import_kwh', 1)} · sold {number('grid_export_kwh', 1)} kWh · "
        f"net cost {number('net_cost_pln', 2)} PLN · saved {number('savings_pln', 2)} PLN"
    )


def day_series(
    quarters: pd.DataFrame,
    soc: pd.Series,
    sessions: pd.DataFrame,
    figures: Mapping[str, Any],
    day: date,
    tz: str,
    label: str = "",
) -> DaySeries:
    """The data behind the chart of ``day``.

    ``quarters``: the device's ``DailyEnergy.quarters`` rows of the day; ``soc``: its
    ``battery_soc_pct`` readings indexed by UTC time; ``sessions``: its battery sessions
    (``start_time``, ``end_time``, ``kind``); ``figures``: its ``daily_energy`` row.
    Quarter hours without data stay empty (``NaN``): a gap is drawn as a gap.
    """
    slots = day_slots(day, tz)
    by_slot = quarters.set_index(pd.DatetimeIndex(quarters["time_start"]).tz_convert("UTC"))
    by_slot = by_slot[~by_slot.index.duplicated()].reindex(slots)

    def kw(column: str) -> pd.Series:
        if column not in by_slot:
            return pd.Series(np.nan, index=slots)
        return by_slot[column].astype("float64") * QUARTERS_PER_HOUR

    power = pd.DataFrame(
        {
            "pv_kw": kw("pv_kwh"),
            "load_kw": kw("load_kwh"),
            "grid_import_kw": kw("grid_import_kwh"),
            "grid_export_kw": kw("grid_export_kwh"),
            "battery_kw": kw("battery_discharge_kwh") - kw("battery_charge_kwh"),
        },
        index=slots,
    )
    buy = (
        by_slot["buy_pln_kwh"].astype("float64")
        if "buy_pln_kwh" in by_slot
        else pd.Series(np.nan, index=slots)
    )
    title = f"{day.isoformat()}{f' · {label}' if label else ''} · {headline(figures)}"
    shown = sessions[["start_time", "end_time", "kind"]] if len(sessions) else _no_sessions()
    return DaySeries(day, tz, slots, power, _soc_by_quarter(soc, slots), buy, shown, title)


def _no_sessions() -> pd.DataFrame:
    return pd.DataFrame({"start_time": [], "end_time": [], "kind": []})


def day_figure(series: DaySeries) -> Figure:
    """Powers (kW) and charge level (%) above, the buy price (PLN/kWh) below, sessions shaded."""
    figure = new_figure(
        9.0, 5.0, margins={"left": 0.08, "right": 0.92, "top": 0.93, "bottom": 0.08, "hspace": 0.08}
    )
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    x = as_numbers(series.slots)
    for column, label, colour in POWER_SERIES:
        values = series.power_kw[column].to_numpy()
        top.plot(x, values, drawstyle="steps-post", label=label, color=colour, lw=1.2, gid=column)
    top.fill_between(
        x, series.power_kw["pv_kw"].to_numpy(), step="post", color="#f2a900", alpha=0.25, lw=0
    )
    top.axhline(0.0, color="#999999", lw=0.6)
    top.set_ylabel("kW (quarter-hour average)")
    soc_axis = top.twinx()
    soc_axis.set_ylim(0, 100)
    soc_axis.set_ylabel("battery %")
    if series.soc_pct.notna().any():
        soc_axis.plot(
            x,
            series.soc_pct.to_numpy(),
            color="#17becf",
            lw=1.0,
            ls="--",
            label="battery %",
            gid="soc_pct",
        )
    else:
        note(soc_axis, "no battery readings", corner=True)
    bottom.plot(
        x,
        series.buy_pln_kwh.to_numpy(),
        drawstyle="steps-post",
        color="#8c564b",
        lw=1.0,
        gid="buy_pln_kwh",
    )
    bottom.set_ylabel("buy PLN/kWh")
    if series.buy_pln_kwh.isna().all():
        note(bottom, "no prices for this day")
    for row in series.sessions.itertuples():
        start, end = as_numbers(pd.DatetimeIndex([row.start_time, row.end_time]))
        colour = SESSION_COLOURS.get(row.kind, "#7f7f7f")
        for ax in (top, bottom):
            ax.axvspan(start, end, color=colour, alpha=0.10, lw=0, gid=f"session_{row.kind}")
    local_hours_axis(bottom, series.day, series.tz)
    lines, labels = top.get_legend_handles_labels()
    soc_lines, soc_labels = soc_axis.get_legend_handles_labels()
    top.legend(lines + soc_lines, labels + soc_labels, loc="upper left", fontsize=7, ncols=3)
    figure.suptitle(series.title, fontsize=8.5)
    return figure
