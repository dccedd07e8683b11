"""Rolling 7/30/90-day figures of the daily reports, each with a trend (pure, no Dagster).

For a window of N days ending on day D (inclusive) and one device:

- totals and daily means of production (``pv_kwh``), consumption (``load_kwh``), grid
  import and export, and savings (``savings_pln``);
- the average price paid for energy put into the battery (sum of ``cost_pln`` over sum
  of ``energy_kwh`` of the charge sessions that started in the window) against the
  average import price (sum of ``import_cost_pln`` over sum of ``grid_import_kwh``).

Trend rule, per figure: a least-squares line through the daily values (days without a
value are left out, never counted as zero). ``slope`` is per day; ``change_pct`` is the
fitted change across the window relative to the mean. The strength is ``r2`` (share of
day-to-day variation the line explains) and ``t`` = slope / standard error. Direction is
``rising`` or ``falling`` when |t| >= 2 (roughly 95 % confidence that the slope is not
zero) and ``flat`` otherwise; ``insufficient data`` when fewer than
max(3, half the window) days have a value. Strength reads ``strong`` for r2 >= 0.5,
``moderate`` for r2 >= 0.2, else ``weak``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

WINDOWS: tuple[int, ...] = (7, 30, 90)
T_THRESHOLD = 2.0
DAILY_FIGURES: tuple[tuple[str, str], ...] = (
    ("production_kwh", "pv_kwh"),
    ("consumption_kwh", "load_kwh"),
    ("grid_import_kwh", "grid_import_kwh"),
    ("grid_export_kwh", "grid_export_kwh"),
    ("savings_pln", "savings_pln"),
)
DAILY_COLUMNS: tuple[str, ...] = (*(column for _, column in DAILY_FIGURES), "import_cost_pln")
"""The ``daily_energy`` columns the trends read."""


def report_type(window_days: int) -> str:
    return f"trend_{window_days}d"


@dataclass(frozen=True)
class Trend:
    direction: str
    slope: float | None
    change_pct: float | None
    r2: float | None
    t: float | None
    strength: str | None
    points: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "slope_per_day": _round(self.slope),
            "change_pct": _round(self.change_pct),
            "r2": _round(self.r2),
            "t": _round(self.t),
            "strength": self.strength,
            "points": self.points,
        }


def fit_trend(day_numbers: np.ndarray, values: np.ndarray, window_days: int) -> Trend:
    """The least-squares trend of ``values`` over ``day_numbers`` (NaN values left out)."""
    keep = ~np.isnan(values)
    x, y = day_numbers[keep].astype("float64"), values[keep].astype("float64")
    n = len(x)
    if n < max(3, math.ceil(window_days / 2)):
        return Trend("insufficient data", None, None, None, None, None, n)
    x_mean, y_mean = x.mean(), y.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    if sxx == 0:
        return Trend("insufficient data", None, None, None, None, None, n)
    slope = float(((x - x_mean) * (y - y_mean)).sum() / sxx)
    residuals = y - (y_mean + slope * (x - x_mean))
    ss_res = float((residuals**2).sum())
    ss_tot = float(((y - y_mean) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    if ss_res <= 1e-12 * max(ss_tot, 1e-300):
        t = math.inf if slope != 0 else 0.0
    else:
        stderr = math.sqrt(ss_res / (n - 2) / sxx)
        t = slope / stderr
    if abs(t) >= T_THRESHOLD and slope != 0:
        direction = "rising" if slope > 0 else "falling"
    else:
        direction = "flat"
    strength = "strong" if r2 >= 0.5 else "moderate" if r2 >= 0.2 else "weak"
    change = slope * (window_days - 1) / abs(y_mean) * 100.0 if y_mean != 0 else None
    return Trend(direction, slope, change, r2, t, strength, n)


def window_report(
    daily: pd.DataFrame,
    sessions: pd.DataFrame,
    device_id: str,
    end: date,
    window_days: int,
) -> dict[str, Any]:
    """The trend report of one device for the ``window_days`` ending on ``end``.

    ``daily`` holds ``daily_energy`` rows (``day`` as date); ``sessions`` holds
    ``battery_sessions`` rows (``kind``, ``partition_date``, ``energy_kwh``,
    ``cost_pln``, ``device_id``).
    """
    start = end - timedelta(days=window_days - 1)
    calendar = [start + timedelta(days=i) for i in range(window_days)]
    rows = daily[
        (daily["device_id"] == device_id) & (daily["day"] >= start) & (daily["day"] <= end)
    ]
    rows = rows.set_index("day").reindex(calendar)
    numbers = np.arange(window_days)
    figures: dict[str, Any] = {}
    for name, column in DAILY_FIGURES:
        values = (
            rows[column].to_numpy("float64") if column in rows else np.full(window_days, np.nan)
        )
        known = values[~np.isnan(values)]
        figures[name] = {
            "total": _round(float(known.sum())) if len(known) else None,
            "daily_mean": _round(float(known.mean())) if len(known) else None,
            "days": int(len(known)),
            "trend": fit_trend(numbers, values, window_days).as_dict(),
        }

    import_kwh = rows["grid_import_kwh"].to_numpy("float64")
    import_cost = rows["import_cost_pln"].to_numpy("float64")
    priced = ~np.isnan(import_kwh) & ~np.isnan(import_cost)
    import_price_daily = np.divide(
        import_cost, import_kwh, out=np.full(window_days, np.nan), where=priced & (import_kwh > 0)
    )
    avg_import = _ratio(import_cost[priced].sum(), import_kwh[priced].sum())

    charge_cost, charge_kwh = _charge_by_day(sessions, device_id, calendar)
    charge_price_daily = np.divide(
        charge_cost, charge_kwh, out=np.full(window_days, np.nan), where=charge_kwh > 0
    )
    avg_charge = _ratio(np.nansum(charge_cost), np.nansum(charge_kwh))
    figures["charge_vs_import_price"] = {
        "avg_charge_price_pln_kwh": _round(avg_charge),
        "avg_import_price_pln_kwh": _round(avg_import),
        "charge_energy_kwh": _round(float(np.nansum(charge_kwh))),
        "charge_cheaper_by_pct": _round(
            (avg_import - avg_charge) / avg_import * 100.0
            if avg_charge is not None and avg_import not in (None, 0.0)
            else None
        ),
        "charge_price_trend": fit_trend(numbers, charge_price_daily, window_days).as_dict(),
        "import_price_trend": fit_trend(numbers, import_price_daily, window_days).as_dict(),
    }
    return {
        "window_days": window_days,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days_with_reports": int(rows["pv_kwh"].notna().sum()) if "pv_kwh" in rows else 0,
        "figures": figures,
    }


def trend_reports(
    daily: pd.DataFrame,
    sessions: pd.DataFrame,
    ends: Iterable[date],
    windows: Sequence[int] = WINDOWS,
) -> list[dict[str, Any]]:
    """``analytics_reports`` rows (``report_type``, ``report_date``, ``device_id``,
    ``report_data``) for each end day, window and device that has reports."""
    devices = sorted(str(d) for d in daily["device_id"].dropna().unique()) if len(daily) else []
    out: list[dict[str, Any]] = []
    for end in ends:
        for device in devices:
            for window_days in windows:
                data = window_report(daily, sessions, device, end, window_days)
                if data["days_with_reports"] == 0:
                    continue
                out.append(
                    {
                        "report_type": report_type(window_days),
                        "report_date": end,
                        "device_id": device,
                        "report_data": data,
                    }
                )
    return out


def _charge_by_day(
    sessions: pd.DataFrame, device_id: str, calendar: list[date]
) -> tuple[np.ndarray, np.ndarray]:
    cost = np.zeros(len(calendar))
    energy = np.zeros(len(calendar))
    if sessions is None or sessions.empty:
        return cost, energy
    mine = sessions[(sessions["device_id"] == device_id) & (sessions["kind"] == "charge")]
    mine = mine[mine["energy_kwh"].notna() & mine["cost_pln"].notna()]
    index = {day: i for i, day in enumerate(calendar)}
    for day, kwh, pln in zip(
        mine["partition_date"], mine["energy_kwh"], mine["cost_pln"], strict=True
    ):
        i = index.get(day)
        if i is not None:
            cost[i] += float(pln)
            energy[i] += float(kwh)
    return cost, energy


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator and denominator > 0 else None


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return None
    return round(float(value), digits)


FIGURE_LABELS: tuple[tuple[str, str], ...] = (
    ("production_kwh", "produced kWh/day"),
    ("consumption_kwh", "used kWh/day"),
    ("grid_import_kwh", "bought kWh/day"),
    ("grid_export_kwh", "sold kWh/day"),
    ("savings_pln", "saved PLN/day"),
)
ARROWS = {"rising": "↑", "falling": "↓", "flat": "→"}


def trends_markdown(rows: list[dict[str, Any]]) -> str:
    """The latest trend rows as one narrow table per device: a row per figure, a column
    per window, each cell the daily mean and the trend's arrow (↑ ↓ →, ``?`` when there
    are too few days). A window holding no day more than the shorter one before it says
    so instead of repeating that window's figures."""
    if not rows:
        return "_No daily reports in these windows yet._"
    by_device: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_device.setdefault(str(row["device_id"]), []).append(row["report_data"])
    parts = []
    for device, windows in sorted(by_device.items()):
        windows = sorted(windows, key=lambda w: w["window_days"])
        header = "| " + device + " | " + " | ".join(f"{w['window_days']} d" for w in windows)
        lines = [header + " |", "|---" + "|---:" * len(windows) + "|"]
        same = [
            i > 0 and w["days_with_reports"] == windows[i - 1]["days_with_reports"]
            for i, w in enumerate(windows)
        ]
        for name, label in FIGURE_LABELS:
            cells = ["″" if same[i] else _cell(w["figures"][name]) for i, w in enumerate(windows)]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        prices = [
            "″"
            if same[i]
            else "{} / {}".format(
                _fmt(w["figures"]["charge_vs_import_price"]["avg_charge_price_pln_kwh"]),
                _fmt(w["figures"]["charge_vs_import_price"]["avg_import_price_pln_kwh"]),
            )
            for i, w in enumerate(windows)
        ]
        lines.append("| charge / import PLN/kWh | " + " | ".join(prices) + " |")
        lines.append(
            "| days with reports | "
            + " | ".join(str(w["days_with_reports"]) for w in windows)
            + " |"
        )
        parts.append("\n".join(lines))
    legend = (
        "↑ rising, ↓ falling, → flat (a clear trend is bold), ? too few days; "
        "″ no older reports than the window before."
    )
    return "\n\n".join(parts) + "\n\n_" + legend + "_"


def _cell(figure: dict[str, Any]) -> str:
    trend = figure["trend"]
    arrow = ARROWS.get(trend["direction"], "?")
    if trend["strength"] == "strong":
        arrow = f"**{arrow}**"
    return f"{_fmt(figure['daily_mean'])} {arrow}"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
