"""A day's buy and sell prices per quarter hour, the tariff's distribution zones shaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from goodwe_pipeline.charts.marks import note
from goodwe_pipeline.charts.render import new_figure
from goodwe_pipeline.charts.timeaxis import QUARTER, as_numbers, day_slots, local_hours_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ZONE_COLOURS = ("#fde0dd", "#e0ecf4", "#e5f5e0", "#fff7bc", "#efedf5")


@dataclass(frozen=True)
class DayPrices:
    """One row per quarter hour of the day (UTC ``slots``): ``buy_pln_kwh``,
    ``sell_pln_kwh``, ``zone``; ``NaN``/empty where the day has no price."""

    day: date
    tz: str
    slots: pd.DatetimeIndex
    prices: pd.DataFrame
    title: str


def price_series(prices: pd.DataFrame, day: date, tz: str) -> DayPrices:
    """``prices``: ``electricity_prices`` rows (quarter-hour or hourly) covering the day."""
    slots = day_slots(day, tz)
    frame = pd.DataFrame(index=slots, columns=["buy_pln_kwh", "sell_pln_kwh", "zone"])
    if len(prices):
        starts = pd.DatetimeIndex(pd.to_datetime(prices["time_start"], utc=True))
        ends = pd.DatetimeIndex(pd.to_datetime(prices["time_end"], utc=True))
        order = np.argsort(starts.asi8)
        position = np.searchsorted(starts.asi8[order], slots.asi8, side="right") - 1
        valid = position >= 0
        rows = order[np.clip(position, 0, None)]
        valid &= slots.asi8 < ends.asi8[rows]
        for column in ("buy_pln_kwh", "sell_pln_kwh", "zone"):
            if column in prices:
                values = prices[column].to_numpy()[rows]
                frame[column] = np.where(valid, values, None)
    frame[["buy_pln_kwh", "sell_pln_kwh"]] = frame[["buy_pln_kwh", "sell_pln_kwh"]].astype(
        "float64"
    )
    buy = frame["buy_pln_kwh"]
    if buy.notna().any():
        title = (
            f"{day.isoformat()} · buy {buy.min():.2f}–{buy.max():.2f} PLN/kWh "
            f"(mean {buy.mean():.2f}) · sell mean {frame['sell_pln_kwh'].mean():.2f} PLN/kWh"
        )
    else:
        title = f"{day.isoformat()} · no prices"
    return DayPrices(day, tz, slots, frame, title)


def zone_spans(series: DayPrices) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """Runs of consecutive quarter hours in one zone: (zone, start, end)."""
    zones = series.prices["zone"].fillna("").astype(str).to_numpy()
    spans = []
    start = 0
    for i in range(1, len(zones) + 1):
        if i == len(zones) or zones[i] != zones[start]:
            if zones[start]:
                spans.append((zones[start], series.slots[start], series.slots[i - 1] + QUARTER))
            start = i
    return spans


def prices_figure(series: DayPrices) -> Figure:
    figure = new_figure(9.0, 3.6, margins={"left": 0.07, "right": 0.98, "top": 0.9, "bottom": 0.1})
    ax = figure.subplots()
    x = as_numbers(series.slots)
    colours: dict[str, str] = {}
    for zone, start, end in zone_spans(series):
        colour = colours.setdefault(zone, ZONE_COLOURS[len(colours) % len(ZONE_COLOURS)])
        left, right = as_numbers(pd.DatetimeIndex([start, end]))
        label = zone if zone not in ax.get_legend_handles_labels()[1] else None
        ax.axvspan(left, right, color=colour, lw=0, label=label, gid=f"zone_{zone}")
    for column, label, colour in (
        ("buy_pln_kwh", "buy", "#d62728"),
        ("sell_pln_kwh", "sell", "#2ca02c"),
    ):
        values = series.prices[column].to_numpy()
        ax.plot(x, values, drawstyle="steps-post", color=colour, lw=1.4, label=label, gid=column)
    ax.axhline(0.0, color="#999999", lw=0.6)
    ax.set_ylabel("PLN/kWh")
    if series.prices["buy_pln_kwh"].isna().all():
        note(ax, "no prices for this day")
    local_hours_axis(ax, series.day, series.tz)
    ax.legend(loc="upper left", fontsize=7, ncols=6)
    figure.suptitle(series.title, fontsize=9)
    return figure
