"""Synthetic inverter days whose energies are known by construction.

Power shapes are functions of the local hour; the counters are the exact running sums
of the same powers (each reading's power held until the next reading), so a report
must find the same energies from counters as from integration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from goodwe_pipeline.common import days as days_mod
from goodwe_pipeline.readings import normalize

Shape = Callable[[np.ndarray], np.ndarray]
"""Power in W as a function of the local hour of day (float array, 0 <= h < 25)."""


def zero(hours: np.ndarray) -> np.ndarray:
    return np.zeros_like(hours)


def constant(watts: float) -> Shape:
    return lambda hours: np.full_like(hours, float(watts))


def window(watts: float, start_h: float, end_h: float) -> Shape:
    return lambda hours: np.where((hours >= start_h) & (hours < end_h), float(watts), 0.0)


def sine_pv(peak_w: float, sunrise_h: float = 6.0, sunset_h: float = 18.0) -> Shape:
    """Half a sine from sunrise to sunset: ``peak * length * 2/pi`` Wh in a day."""
    length = sunset_h - sunrise_h

    def shape(hours: np.ndarray) -> np.ndarray:
        inside = (hours >= sunrise_h) & (hours < sunset_h)
        return np.where(inside, peak_w * np.sin(np.pi * (hours - sunrise_h) / length), 0.0)

    return shape


def sine_pv_kwh(peak_w: float, sunrise_h: float = 6.0, sunset_h: float = 18.0) -> float:
    return peak_w * (sunset_h - sunrise_h) * 2 / np.pi / 1000.0


def local(day: date, hour: float, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)) + timedelta(hours=hour)


def make_readings(
    first: date,
    last: date,
    tz: str,
    *,
    cadence_s: float = 10.0,
    device_id: str = "SN-TEST",
    pv: Shape = zero,
    load: Shape = zero,
    battery: Shape = zero,
    soc: Shape | None = None,
    lifetime_counters: bool = False,
    daily_counters: bool = False,
    counter_base_kwh: float = 1000.0,
    gaps: Sequence[tuple[datetime, datetime]] = (),
    include_end: bool = True,
) -> pd.DataFrame:
    """Readings every ``cadence_s`` from the start of ``first`` to the end of ``last``.

    ``battery`` is + discharge / - charge; the grid balances the rest (+ export).
    ``gaps`` (aware datetimes, half-open) remove readings after the counters were
    computed, so counters carry the energy of the gap as a real inverter's do.
    """
    start, end = days_mod.range_window(first, last, tz)
    count = int(round((end - start).total_seconds() / cadence_s)) + (1 if include_end else 0)
    seconds = start.timestamp() + np.arange(count) * cadence_s
    times = pd.to_datetime(seconds, unit="s", utc=True)
    local_times = times.tz_convert(tz)
    midnight = local_times.normalize()
    hours = ((local_times - midnight).total_seconds() / 3600.0).to_numpy()
    pv_w = pv(hours)
    load_w = load(hours)
    battery_w = battery(hours)
    grid_w = pv_w + battery_w - load_w
    frame = pd.DataFrame(
        {
            "time": times,
            "device_id": device_id,
            "source": "inverter",
            "pv_power_w": pv_w,
            "load_power_w": load_w,
            "battery_power_w": battery_w,
            "grid_power_w": grid_w,
            "battery_soc_pct": soc(hours) if soc else np.full(count, 50.0),
        }
    )
    dt = np.append(np.diff(seconds), 0.0)
    parts = {
        "pv": pv_w,
        "load": load_w,
        "grid_import": np.clip(-grid_w, 0, None),
        "grid_export": np.clip(grid_w, 0, None),
        "battery_charge": np.clip(-battery_w, 0, None),
        "battery_discharge": np.clip(battery_w, 0, None),
    }
    lifetime_names = {
        "pv": "pv_energy_total_kwh",
        "load": "load_energy_total_kwh",
        "grid_import": "grid_import_total_kwh",
        "grid_export": "grid_export_total_kwh",
        "battery_charge": "battery_charge_total_kwh",
        "battery_discharge": "battery_discharge_total_kwh",
    }
    day_codes = pd.factorize(midnight)[0]
    for name, power in parts.items():
        cumulative = np.concatenate([[0.0], np.cumsum(power * dt)[:-1]]) / 3.6e6
        if lifetime_counters:
            frame[lifetime_names[name]] = counter_base_kwh + cumulative
        if daily_counters:
            day_start = pd.Series(cumulative).groupby(day_codes).transform("first").to_numpy()
            frame[lifetime_names[name].replace("_total_", "_today_")] = cumulative - day_start
    for gap_start, gap_end in gaps:
        keep = (frame["time"] < pd.Timestamp(gap_start)) | (frame["time"] >= pd.Timestamp(gap_end))
        frame = frame[keep]
    return normalize(frame)


def flat_prices(first: date, last: date, tz: str, buy: Shape, sell: Shape, *, step_min: int = 15):
    """Price rows every ``step_min`` minutes over the days; prices as functions of local hour."""
    start, end = days_mod.range_window(first, last, tz)
    starts = pd.date_range(start, end, freq=f"{step_min}min", inclusive="left")
    local_times = starts.tz_convert(tz)
    hours = ((local_times - local_times.normalize()).total_seconds() / 3600.0).to_numpy()
    return pd.DataFrame(
        {
            "time_start": starts,
            "time_end": starts + pd.Timedelta(minutes=step_min),
            "buy_pln_kwh": buy(hours),
            "sell_pln_kwh": sell(hours),
        }
    )
