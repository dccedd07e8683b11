"""The autumn DST day of a legacy folder with known true readings (issue: one reading too many).

One reading a minute over the 25-hour local day 2025-10-26 in Europe/Warsaw, with
monotonic lifetime counters, written as the optimiser wrote it:

- the flat daily array ``energy_data_2025-10-26.json``: every reading, both
  occurrences of 02:00-03:00 in order; the first occurrence at 02:03 is invalid
  (battery charge 250 %);
- ``coordinator_state_20251026.json``: a state line every 2 minutes (nested reading);
- the optimiser's SQLite ``energy_data`` table keyed by the local timestamp text and
  written with ``INSERT OR REPLACE``: for a repeated local time it keeps the last row
  written, the second occurrence.

Two readings (11:15 and 11:16 local) were never recorded. ``drop`` removes more
records from a source (by reading index) for the property test.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from goodwe_pipeline.demo.legacy_files import LegacyFolder
from goodwe_pipeline_tests.legacy_corpus import SERIAL

TZ = "Europe/Warsaw"
DAY = date(2025, 10, 26)
START = datetime(2025, 10, 25, 22, 0, tzinfo=UTC)
MINUTES = 25 * 60
NEVER_RECORDED = frozenset({735, 736})
INVALID = 123
"""02:03 local, first occurrence (00:03 UTC)."""
SOURCES = ("daily", "coordinator", "sqlite")


@dataclass(frozen=True)
class Reading:
    utc: datetime
    stamp: str
    """Local wall-clock time as the optimiser wrote it (no offset)."""
    values: dict[str, float]
    """Canonical field -> value."""


def truth(seed: int = 7) -> list[Reading]:
    rng = random.Random(seed)
    zone = ZoneInfo(TZ)
    soc, totals = 71.6, {"load": 2062.4, "pv": 5000.0, "import": 3000.0, "export": 1500.0}
    readings = []
    for n in range(MINUTES):
        moment = START + timedelta(minutes=n)
        local = moment.astimezone(zone)
        hour = local.hour + local.minute / 60
        pv = round(max(0.0, 5000 * (1 - abs(hour - 12) / 5)) if 7 < hour < 17 else 0.0, 1)
        load = round(350 + 250 * rng.random() + (1200 if 17 <= hour < 21 else 0), 1)
        battery = round(rng.uniform(-800, 800), 1)
        grid = round(pv - load - battery, 1)
        values = {
            "battery_soc_pct": round(soc, 1),
            "pv_power_w": pv,
            "grid_power_w": grid,
            "load_power_w": load,
            "battery_power_w": battery,
            "grid_import_total_kwh": round(totals["import"], 2),
            "grid_export_total_kwh": round(totals["export"], 2),
            "load_energy_total_kwh": round(totals["load"], 2),
            "pv_energy_total_kwh": round(totals["pv"], 2),
        }
        readings.append(Reading(moment, local.replace(tzinfo=None).isoformat(), values))
        soc = min(100.0, max(5.0, soc + battery / 60 / 10_000 * 100))
        totals["load"] += load / 60_000
        totals["pv"] += pv / 60_000
        totals["import"] += max(-grid, 0.0) / 60_000
        totals["export"] += max(grid, 0.0) / 60_000
    return readings


def true_readings(readings: list[Reading]) -> dict[datetime, dict[str, float]]:
    """What a migration may store: every recorded valid reading, by UTC instant."""
    return {r.utc: r.values for n, r in enumerate(readings) if n not in NEVER_RECORDED | {INVALID}}


def flat(reading: Reading, invalid: bool = False) -> dict:
    v = reading.values
    return {
        "timestamp": reading.stamp,
        "battery_soc": 250 if invalid else v["battery_soc_pct"],
        "pv_power": v["pv_power_w"],
        "grid_power": v["grid_power_w"],
        "house_consumption": v["load_power_w"],
        "battery_power": v["battery_power_w"],
        "grid_import_total_kwh": v["grid_import_total_kwh"],
        "grid_export_total_kwh": v["grid_export_total_kwh"],
        "house_consumption_total_kwh": v["load_energy_total_kwh"],
        "pv_generation_total_kwh": v["pv_energy_total_kwh"],
    }


def state_line(reading: Reading) -> str:
    v = reading.values
    current = {
        "timestamp": reading.stamp,
        "battery": {"soc_percent": v["battery_soc_pct"], "power_w": v["battery_power_w"]},
        "photovoltaic": {"current_power_w": v["pv_power_w"]},
        "grid": {
            "power_w": v["grid_power_w"],
            "total_imported_kwh": v["grid_import_total_kwh"],
            "total_exported_kwh": v["grid_export_total_kwh"],
        },
        "house_consumption": {
            "current_power_w": v["load_power_w"],
            "total_consumption_kwh": v["load_energy_total_kwh"],
        },
        "system": {"inverter_serial": SERIAL},
    }
    return json.dumps({"timestamp": reading.stamp, "state": "monitoring", "current_data": current})


def write_autumn_day(
    root: Path, readings: list[Reading], drop: dict[str, set[int]] | None = None
) -> Path:
    """Write the three sources under ``root`` (created); ``drop[source]``: indexes left out."""
    drop = drop or {}
    recorded = [n for n in range(len(readings)) if n not in NEVER_RECORDED]
    folder = LegacyFolder(root, TZ)
    daily = [flat(readings[n], n == INVALID) for n in recorded if n not in drop.get("daily", ())]
    folder.daily_array(DAY, daily)
    lines = [
        state_line(readings[n])
        for n in recorded
        if n % 2 == 0 and n not in drop.get("coordinator", ())
    ]
    folder.coordinator_log(DAY, lines)
    database = folder.database(applied_at=DAY.isoformat())
    database.readings(
        [flat(readings[n], n == INVALID) for n in recorded if n not in drop.get("sqlite", ())],
        on_conflict="REPLACE",
    )
    database.close()
    return root
