"""One legacy reading (nested dict or flat record) onto the canonical reading fields.

Values the optimiser could not read are the string ``"Unknown"`` (its ``*_kw``
copies then say ``0.0``: those are never read), ``null``, or numbers written as
text. All of them become a float or NaN, never a fake 0. A reading is rejected,
with a reason, when it is not an object, carries no number at all, or reports
a battery charge outside 0-100 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from goodwe_pipeline.readings import FIELD_NAMES

NAN = math.nan
NESTED = "nested"
FLAT = "flat"
_FIELD_INDEX = {name: i for i, name in enumerate(FIELD_NAMES)}
_SOC = _FIELD_INDEX["battery_soc_pct"]
MAX_DEVICE_ID_LENGTH = 64
_MISSING_TEXT = frozenset({"", "unknown", "none", "null", "nan", "n/a", "na", "-", "--"})

# canonical field <- alternatives (block, key), first present number wins
NESTED_PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "pv_power_w": (("photovoltaic", "current_power_w"), ("pv", "power_w")),
    "pv1_power_w": (("photovoltaic", "pv1_power_w"),),
    "pv2_power_w": (("photovoltaic", "pv2_power_w"),),
    "battery_power_w": (("battery", "power_w"),),
    "battery_soc_pct": (("battery", "soc_percent"),),
    "battery_temperature_c": (("battery", "temperature"),),
    "battery_voltage_v": (("battery", "voltage"),),
    "battery_current_a": (("battery", "current"),),
    "grid_power_w": (("grid", "power_w"),),
    "load_power_w": (("house_consumption", "current_power_w"), ("consumption", "current_power_w")),
    "grid_voltage_v": (("grid", "voltage"),),
    "pv_energy_today_kwh": (("photovoltaic", "daily_production_kwh"),),
    "load_energy_today_kwh": (("house_consumption", "daily_total_kwh"),),
    "load_energy_total_kwh": (("house_consumption", "total_consumption_kwh"),),
    "grid_import_today_kwh": (("grid", "today_imported_kwh"),),
    "grid_export_today_kwh": (("grid", "today_exported_kwh"),),
    "grid_import_total_kwh": (("grid", "total_imported_kwh"),),
    "grid_export_total_kwh": (("grid", "total_exported_kwh"),),
}

FLAT_KEYS: dict[str, str] = {
    "battery_soc": "battery_soc_pct",
    "pv_power": "pv_power_w",
    "grid_power": "grid_power_w",
    "house_consumption": "load_power_w",
    "battery_power": "battery_power_w",
    "grid_voltage": "grid_voltage_v",
    "grid_frequency": "grid_frequency_hz",
    "battery_voltage": "battery_voltage_v",
    "battery_current": "battery_current_a",
    "battery_temperature": "battery_temperature_c",
    "grid_import_total_kwh": "grid_import_total_kwh",
    "grid_export_total_kwh": "grid_export_total_kwh",
    "house_consumption_total_kwh": "load_energy_total_kwh",
    "pv_generation_total_kwh": "pv_energy_total_kwh",
}


def _by_block(primary: bool) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """The nested paths grouped by block; ``primary`` the first alternative of each field."""
    blocks: dict[str, list[tuple[str, int]]] = {}
    for field_name, paths in NESTED_PATHS.items():
        for block, key in paths[:1] if primary else paths[1:]:
            blocks.setdefault(block, []).append((key, _FIELD_INDEX[field_name]))
    return tuple((block, tuple(keys)) for block, keys in blocks.items())


_NESTED_PRIMARY = _by_block(primary=True)
_NESTED_FALLBACK = _by_block(primary=False)
_FLAT_PLAN = tuple((key, _FIELD_INDEX[field]) for key, field in FLAT_KEYS.items())
_NESTED_MARKERS = ("battery", "photovoltaic", "grid", "house_consumption", "system", "pv")


def to_number(value: Any) -> float:
    """A legacy value as a finite float, or NaN ("Unknown", null, text that is no number, bools, lists)."""
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else NAN
    if kind is int:
        return float(value) if -1e300 < value < 1e300 else NAN
    if kind is str:
        text = value.strip()
        if text.lower() in _MISSING_TEXT:
            return NAN
        try:
            number = float(text)
        except ValueError:
            return NAN
        return number if number - number == 0.0 else NAN
    return NAN


def shape_of(record: Mapping[str, Any]) -> str:
    """``nested`` for the collector's dict, ``flat`` for daily-array / SQLite records."""
    for key in _NESTED_MARKERS:
        if isinstance(record.get(key), dict):
            return NESTED
    return FLAT


def clean_device_id(value: Any) -> str | None:
    """A usable inverter serial, or None (missing, "Unknown", too long, control characters)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text.lower() in _MISSING_TEXT or len(text) > MAX_DEVICE_ID_LENGTH:
        return None
    if not text.isprintable():
        return None
    return text


def nested_device(record: Mapping[str, Any]) -> str | None:
    for block in ("system", "inverter"):
        section = record.get(block)
        if isinstance(section, dict):
            device = clean_device_id(section.get("inverter_serial"))
            if device:
                return device
    return None


def map_record(record: Any) -> tuple[list[float] | None, str | None, str | None]:
    """``(values aligned with readings.FIELD_NAMES, device serial or None, rejection reason)``.

    Missing values are the shared ``NAN`` object, so ``NAN in values`` is a fast test.
    """
    if not isinstance(record, dict):
        if not isinstance(record, Mapping):
            return None, None, f"record is {type(record).__name__}, not an object"
        record = dict(record)
    values = [NAN] * len(FIELD_NAMES)
    device: str | None = None
    if shape_of(record) == NESTED:
        for plan, fill_only in ((_NESTED_PRIMARY, False), (_NESTED_FALLBACK, True)):
            for block_name, keys in plan:
                block = record.get(block_name)
                if type(block) is not dict:
                    continue
                for key, index in keys:
                    value = block.get(key)
                    if value is None or (fill_only and values[index] is not NAN):
                        continue
                    kind = type(value)
                    if kind is float and value - value == 0.0:
                        values[index] = value
                    elif kind is int and -1e300 < value < 1e300:
                        values[index] = float(value)
                    else:
                        number = to_number(value)
                        if number == number:
                            values[index] = number
        device = nested_device(record)
    else:
        for key, index in _FLAT_PLAN:
            value = record.get(key)
            if value is not None:
                number = to_number(value)
                if number == number:
                    values[index] = number
    return values, device, check_values(values)


def check_values(values: list[float]) -> str | None:
    soc = values[_SOC]
    if soc == soc and not 0.0 <= soc <= 100.0:
        return f"battery SOC {soc:g} outside 0-100 %"
    if values.count(NAN) == len(values):
        return "no numeric values"
    return None
