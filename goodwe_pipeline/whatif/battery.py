"""The battery's limits, learned from the owner's own battery sessions.

- capacity (kWh for 0-100 % charge): energy per percentage point of the sessions that
  moved the charge level by at least ``MIN_SWING_PCT`` points, the geometric mean of the
  charge and discharge medians (charging needs more energy per point than discharging
  gives back; the mean of the two cancels the losses);
- round-trip efficiency: discharge energy per point over charge energy per point
  (medians), kept within ``EFFICIENCY_RANGE``;
- usable window: the lowest and highest charge level the sessions ever started or ended at;
- charge and discharge power: the highest average power of a session of at least
  ``MIN_POWER_SESSION_S`` (the battery held that power for that long).

Each needs ``MIN_SESSIONS`` completed sessions; otherwise that limit takes its documented
default (``DEFAULT_LIMITS``) and says so in ``sources``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

MIN_SESSIONS = 3
MIN_SWING_PCT = 20.0
MIN_POWER_SESSION_S = 900.0
EFFICIENCY_RANGE = (0.5, 1.0)
DEFAULT = "default (too little history)"


@dataclass(frozen=True)
class BatteryLimits:
    capacity_kwh: float
    """Energy between 0 % and 100 % charge."""
    soc_min_pct: float
    soc_max_pct: float
    charge_kw: float
    discharge_kw: float
    round_trip_efficiency: float
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def usable_kwh(self) -> float:
        return max(self.capacity_kwh * (self.soc_max_pct - self.soc_min_pct) / 100.0, 0.0)

    def level_kwh(self, soc_pct: float) -> float:
        """Usable energy stored at a charge level (0 at the bottom of the window)."""
        level = self.capacity_kwh * (soc_pct - self.soc_min_pct) / 100.0
        return float(min(max(level, 0.0), self.usable_kwh))

    def as_dict(self) -> dict[str, Any]:
        return {
            "capacity_kwh": round(self.capacity_kwh, 3),
            "usable_kwh": round(self.usable_kwh, 3),
            "soc_min_pct": round(self.soc_min_pct, 1),
            "soc_max_pct": round(self.soc_max_pct, 1),
            "charge_kw": round(self.charge_kw, 3),
            "discharge_kw": round(self.discharge_kw, 3),
            "round_trip_efficiency": round(self.round_trip_efficiency, 4),
            "sources": dict(self.sources),
        }


DEFAULT_LIMITS = BatteryLimits(
    capacity_kwh=10.0,
    soc_min_pct=10.0,
    soc_max_pct=100.0,
    charge_kw=5.0,
    discharge_kw=5.0,
    round_trip_efficiency=0.90,
    sources={
        name: DEFAULT
        for name in ("capacity_kwh", "soc_window", "charge_kw", "discharge_kw", "efficiency")
    },
)
"""A common 10 kWh home battery (GoodWe Lynx Home class): 5 kW each way, 90 % round trip,
kept above 10 %."""


def learn_limits(sessions: pd.DataFrame, default: BatteryLimits = DEFAULT_LIMITS) -> BatteryLimits:
    """Limits from ``battery_sessions`` rows (``kind``, ``status``, ``energy_kwh``,
    ``soc_start``, ``soc_end``, ``duration_s``) of one device."""
    sources = dict(default.sources)
    if sessions.empty:
        return default
    done = sessions[sessions["status"] == "completed"]
    energy = done["energy_kwh"].to_numpy("float64")
    swing = (done["soc_end"] - done["soc_start"]).abs().to_numpy("float64")
    charge = (done["kind"] == "charge").to_numpy()
    big = np.isfinite(swing) & (swing >= MIN_SWING_PCT) & np.isfinite(energy) & (energy > 0)
    per_point = np.where(big, energy / np.where(big, swing, 1.0), np.nan)
    charge_pp = per_point[big & charge]
    discharge_pp = per_point[big & ~charge]
    limits = default
    if len(charge_pp) >= MIN_SESSIONS and len(discharge_pp) >= MIN_SESSIONS:
        c, d = float(np.median(charge_pp)), float(np.median(discharge_pp))
        efficiency = min(max(d / c, EFFICIENCY_RANGE[0]), EFFICIENCY_RANGE[1])
        limits = replace(limits, capacity_kwh=100.0 * math.sqrt(c * d))
        limits = replace(limits, round_trip_efficiency=efficiency)
        sources["capacity_kwh"] = (
            f"median kWh per point of {len(charge_pp)} charge and {len(discharge_pp)} "
            f"discharge sessions moving the level by >= {MIN_SWING_PCT:.0f} points"
        )
        sources["efficiency"] = "discharge over charge kWh per point of the same sessions"
    else:
        one = charge_pp if len(charge_pp) >= MIN_SESSIONS else discharge_pp
        if len(one) >= MIN_SESSIONS:
            limits = replace(limits, capacity_kwh=100.0 * float(np.median(one)))
            which = "charge" if one is charge_pp else "discharge"
            sources["capacity_kwh"] = f"median kWh per point of {len(one)} {which} sessions"
    levels = pd.concat([sessions["soc_start"], sessions["soc_end"]]).dropna()
    if len(sessions) >= MIN_SESSIONS and len(levels):
        limits = replace(limits, soc_min_pct=float(levels.min()), soc_max_pct=float(levels.max()))
        sources["soc_window"] = f"lowest and highest level of {len(sessions)} sessions"
    duration = done["duration_s"].to_numpy("float64")
    long_enough = np.isfinite(duration) & (duration >= MIN_POWER_SESSION_S) & (energy > 0)
    power = np.where(long_enough, energy / np.where(long_enough, duration, 1.0) * 3600.0, np.nan)
    for kind, mask, name in (
        ("charge", charge, "charge_kw"),
        ("discharge", ~charge, "discharge_kw"),
    ):
        found = power[long_enough & mask]
        if len(found) >= MIN_SESSIONS:
            limits = replace(limits, **{name: float(found.max())})
            sources[name] = f"highest average power of {len(found)} {kind} sessions >= 15 min"
    return replace(limits, sources=sources)
