"""The canonical reading: one row per device per instant, every field a float.

This module is the single definition of the schema that every store, parser and
report shares. A reading is a row of a pandas DataFrame with the columns
``time`` (tz-aware UTC), the tags ``device_id`` and ``source`` and the float
fields below. Unknown values are NaN, never a fake 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

MEASUREMENT = "inverter_readings"
TIME = "time"
DEVICE_ID = "device_id"
SOURCE = "source"
TAGS: tuple[str, ...] = (DEVICE_ID, SOURCE)
SOURCE_INVERTER = "inverter"
SOURCE_LEGACY = "legacy"


@dataclass(frozen=True)
class Field:
    name: str
    unit: str
    goodwe_sensor: str | None
    description: str


FIELDS: tuple[Field, ...] = (
    Field("pv_power_w", "W", "ppv", "PV power, all strings"),
    Field("pv1_power_w", "W", "ppv1", "PV string 1 power"),
    Field("pv2_power_w", "W", "ppv2", "PV string 2 power"),
    Field("battery_power_w", "W", "pbattery1", "battery power, + discharge / - charge"),
    Field("battery_soc_pct", "%", "battery_soc", "battery state of charge"),
    Field("battery_soh_pct", "%", "battery_soh", "battery state of health"),
    Field("battery_temperature_c", "°C", "battery_temperature", "battery temperature"),
    Field("battery_voltage_v", "V", "vbattery1", "battery voltage"),
    Field("battery_current_a", "A", "ibattery1", "battery current"),
    Field("grid_power_w", "W", "active_power", "grid power, + export / - import"),
    Field("load_power_w", "W", "house_consumption", "house consumption"),
    Field("grid_voltage_v", "V", "vgrid", "grid voltage"),
    Field("grid_frequency_hz", "Hz", "fgrid", "grid frequency"),
    Field("inverter_temperature_c", "°C", "temperature", "inverter temperature"),
    Field("pv_energy_today_kwh", "kWh", "e_day", "PV energy today"),
    Field("pv_energy_total_kwh", "kWh", "e_total", "PV energy, lifetime"),
    Field("load_energy_today_kwh", "kWh", "e_load_day", "load energy today"),
    Field("load_energy_total_kwh", "kWh", "e_load_total", "load energy, lifetime"),
    Field("grid_import_today_kwh", "kWh", "e_day_imp", "grid import today"),
    Field("grid_export_today_kwh", "kWh", "e_day_exp", "grid export today"),
    Field("grid_import_total_kwh", "kWh", "e_total_imp", "grid import, lifetime"),
    Field("grid_export_total_kwh", "kWh", "e_total_exp", "grid export, lifetime"),
    Field("battery_charge_today_kwh", "kWh", "e_bat_charge_day", "battery charged today"),
    Field("battery_discharge_today_kwh", "kWh", "e_bat_discharge_day", "battery discharged today"),
    Field("battery_charge_total_kwh", "kWh", "e_bat_charge_total", "battery charged, lifetime"),
    Field(
        "battery_discharge_total_kwh",
        "kWh",
        "e_bat_discharge_total",
        "battery discharged, lifetime",
    ),
    Field("battery_mode", "code", "battery_mode", "0 none, 1 standby, 2 discharge, 3 charge"),
    Field("work_mode", "code", "work_mode", "inverter work mode"),
    Field("inverter_clock_skew_s", "s", None, "inverter clock minus poll time"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
COLUMNS: tuple[str, ...] = (TIME, *TAGS, *FIELD_NAMES)
LIFETIME_COUNTERS: tuple[str, ...] = tuple(n for n in FIELD_NAMES if n.endswith("_total_kwh"))
DAILY_COUNTERS: tuple[str, ...] = tuple(n for n in FIELD_NAMES if n.endswith("_today_kwh"))
_SENSOR_TO_FIELD = {f.goodwe_sensor: f.name for f in FIELDS if f.goodwe_sensor}


def empty_frame() -> pd.DataFrame:
    """A zero-row frame with the canonical columns and dtypes."""
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in COLUMNS})
    frame[TIME] = pd.Series(dtype="datetime64[us, UTC]")
    for tag in TAGS:
        frame[tag] = pd.Series(dtype="object")
    return frame[list(COLUMNS)]


def _to_float(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return float(value) if isinstance(value, bool) else math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return math.nan


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce any reading-shaped frame to the canonical schema.

    Adds missing field columns as NaN, drops unknown columns, converts ``time``
    to tz-aware UTC (naive times are taken as UTC), fields to float64 and tags
    to str, and sorts by device and time. Duplicate (device, time) rows keep
    the last occurrence, with its non-NaN values filled from earlier ones.
    """
    if frame.empty:
        return empty_frame()
    rows = len(frame)
    times = frame[TIME]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(times, utc=True, format="ISO8601")
    columns: dict[str, Any] = {
        TIME: times.dt.tz_convert(UTC).astype("datetime64[us, UTC]").to_numpy()
    }
    for tag in TAGS:
        values = frame[tag].astype(str).to_numpy(dtype=object) if tag in frame else None
        if values is None:
            values = np.full(rows, SOURCE_INVERTER, dtype=object)
        columns[tag] = pd.Series(values, dtype=object)
    missing = np.full(rows, np.nan)
    for name in FIELD_NAMES:
        if name not in frame:
            columns[name] = missing.copy()
            continue
        column = frame[name]
        if column.dtype.kind in "fiub":
            columns[name] = column.to_numpy(dtype="float64", na_value=np.nan)
        else:
            columns[name] = column.map(_to_float).to_numpy(dtype="float64")
    out = pd.DataFrame(columns, columns=list(COLUMNS))
    keys = [DEVICE_ID, TIME]
    if rows > 1:
        out = out.sort_values(keys, kind="stable", ignore_index=True)
        if out.duplicated(keys).any():
            out = out.groupby(keys, sort=False, as_index=False).last()[list(COLUMNS)]
            for tag in TAGS:
                out[tag] = out[tag].astype(object)
    return out


def from_records(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a canonical frame from dicts holding ``time``, tags and fields."""
    rows = list(records)
    if not rows:
        return empty_frame()
    return normalize(pd.DataFrame(rows))


def from_goodwe(
    runtime_data: Mapping[str, Any],
    device_id: str,
    polled_at: datetime,
    *,
    source: str = SOURCE_INVERTER,
    inverter_timezone: str | None = None,
) -> dict[str, Any]:
    """Map a ``goodwe`` runtime-data dict onto one canonical reading (a dict).

    Sensors absent from the dict become NaN. The inverter's ``timestamp``
    (local wall clock, no zone) becomes ``inverter_clock_skew_s`` relative to
    ``polled_at`` when ``inverter_timezone`` is given.
    """
    if polled_at.tzinfo is None:
        raise ValueError("polled_at must be timezone-aware")
    reading: dict[str, Any] = {
        TIME: polled_at.astimezone(UTC),
        DEVICE_ID: device_id,
        SOURCE: source,
    }
    for sensor, field in _SENSOR_TO_FIELD.items():
        reading[field] = _to_float(runtime_data.get(sensor))
    reading["inverter_clock_skew_s"] = math.nan
    clock = runtime_data.get("timestamp")
    if isinstance(clock, datetime) and inverter_timezone:
        local = pd.Timestamp(clock)
        if local.tzinfo is None:
            local = local.tz_localize(
                inverter_timezone, ambiguous=True, nonexistent="shift_forward"
            )
        reading["inverter_clock_skew_s"] = float((local - pd.Timestamp(polled_at)).total_seconds())
    return reading
