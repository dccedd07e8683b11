"""A simulated household behind the emulated inverter: pure physics, no I/O.

PV follows the sun (solar elevation for the configured latitude/longitude and
day of year) under slowly drifting clouds; the load has a base, a morning and
an evening peak and a slow wiggle; the battery absorbs surplus and covers
deficit within its power, capacity and SOC limits; the grid balances the rest:

    ppv + pbattery - grid = load    (pbattery + discharge, grid + export)

Counters integrate the powers exactly (sub-steps of at most ``max_step_s``);
daily counters reset at local midnight, lifetime counters only grow. Every
variation is a smooth deterministic function of time and ``seed``, so a run
is reproducible and sampled powers integrate to the counters.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

COUNTERS = ("pv", "load", "import", "export", "charge", "discharge")
MAX_STEPS = 10_000
"""Per ``advance``: a long idle gap at a high speed is integrated in coarser steps."""


@dataclass(frozen=True)
class HouseholdConfig:
    pv_peak_w: float = 9000.0
    latitude: float = 52.23
    longitude: float = 21.01
    timezone: str = "Europe/Warsaw"
    base_load_w: float = 300.0
    morning_peak_w: float = 1500.0
    evening_peak_w: float = 2500.0
    battery_kwh: float = 10.0
    battery_max_w: float = 5000.0
    soc_min_pct: float = 10.0
    soc_max_pct: float = 100.0
    soc_start_pct: float = 50.0
    taper_pct: float = 5.0
    battery_efficiency: float = 0.95
    battery_nominal_v: float = 450.0
    seed: int = 1
    max_step_s: float = 30.0
    lifetime_start_kwh: dict[str, float] = field(
        default_factory=lambda: {
            "pv": 12345.6,
            "load": 9876.5,
            "import": 3210.9,
            "export": 5432.1,
            "charge": 2100.0,
            "discharge": 1950.0,
        }
    )


@dataclass
class Powers:
    """Instantaneous flows in W; signs as the inverter reports them."""

    pv1: float
    pv2: float
    battery: float
    grid: float
    load: float

    @property
    def pv(self) -> float:
        return self.pv1 + self.pv2


class _Wiggle:
    """A smooth pseudo-random signal in [-1, 1]: three slow sinusoids with seeded phases."""

    def __init__(self, rng: random.Random, periods_min: tuple[float, ...]):
        self._terms = [(2 * math.pi / (p * 60), rng.uniform(0, 2 * math.pi)) for p in periods_min]

    def __call__(self, t: float) -> float:
        return sum(math.sin(w * t + phase) for w, phase in self._terms) / len(self._terms)


class Household:
    """State of the house at ``self.time`` (UTC); ``advance(to)`` integrates up to ``to``."""

    def __init__(self, config: HouseholdConfig, start: datetime):
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.time = start.astimezone(UTC)
        self.soc_wh = config.battery_kwh * 1000 * config.soc_start_pct / 100
        self.lifetime_kwh = {name: config.lifetime_start_kwh.get(name, 0.0) for name in COUNTERS}
        self.today_kwh = dict.fromkeys(COUNTERS, 0.0)
        self.day = self.local_time().date()
        rng = random.Random(config.seed)
        self._clouds = _Wiggle(rng, (47.0, 83.0, 131.0))
        self._load_wiggle = _Wiggle(rng, (37.0, 71.0, 113.0))
        self._grid_wiggle = _Wiggle(rng, (3.0, 7.0, 11.0))
        self.powers = self.powers_at(self.time)

    def local_time(self) -> datetime:
        return self.time.astimezone(self.zone)

    @property
    def soc_pct(self) -> float:
        if self.config.battery_kwh <= 0:
            return 0.0
        return 100 * self.soc_wh / (self.config.battery_kwh * 1000)

    def solar_elevation_sin(self, moment: datetime) -> float:
        """Sine of the sun's elevation (declination + hour angle; no equation of time)."""
        utc = moment.astimezone(UTC)
        n = utc.timetuple().tm_yday
        declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + n) / 365)
        solar_hours = utc.hour + utc.minute / 60 + utc.second / 3600 + self.config.longitude / 15
        hour_angle = math.radians(15 * (solar_hours - 12))
        lat = math.radians(self.config.latitude)
        return math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
            declination
        ) * math.cos(hour_angle)

    def pv_w(self, moment: datetime) -> float:
        elevation = self.solar_elevation_sin(moment)
        if elevation <= 0:
            return 0.0
        clear_sky = elevation**1.2
        cloud = 0.75 + 0.25 * self._clouds(moment.timestamp())
        return self.config.pv_peak_w * clear_sky * cloud

    def load_w(self, moment: datetime) -> float:
        local = moment.astimezone(self.zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        c = self.config
        peaks = c.morning_peak_w * math.exp(-(((hour - 7.5) / 0.75) ** 2) / 2)
        peaks += c.evening_peak_w * math.exp(-(((hour - 19.0) / 1.5) ** 2) / 2)
        peaks += 0.3 * c.morning_peak_w * math.exp(-(((hour - 13.0) / 2.0) ** 2) / 2)
        return (c.base_load_w + peaks) * (1 + 0.15 * self._load_wiggle(moment.timestamp()))

    def powers_at(self, moment: datetime, soc_wh: float | None = None) -> Powers:
        """The flows at ``moment`` given the battery's charge (self-consumption policy)."""
        soc = self.soc_wh if soc_wh is None else soc_wh
        pv = self.pv_w(moment)
        load = self.load_w(moment)
        battery = self._battery_w(pv - load, soc)
        return Powers(
            pv1=0.55 * pv, pv2=0.45 * pv, battery=battery, grid=pv + battery - load, load=load
        )

    def _battery_w(self, surplus: float, soc_wh: float) -> float:
        """Absorb surplus / cover deficit, tapering off over the last ``taper_pct`` of SOC
        before a limit (as a BMS does), so battery power never jumps."""
        c = self.config
        if c.battery_kwh <= 0:
            return 0.0
        soc = 100 * soc_wh / (c.battery_kwh * 1000)
        if surplus > 0:
            room = min(max((c.soc_max_pct - soc) / c.taper_pct, 0.0), 1.0)
            return -min(surplus, c.battery_max_w * room)
        if surplus < 0:
            room = min(max((soc - c.soc_min_pct) / c.taper_pct, 0.0), 1.0)
            return min(-surplus, c.battery_max_w * room)
        return 0.0

    def advance(self, to: datetime) -> None:
        """Integrate flows from ``self.time`` to ``to`` (no-op when ``to`` is not later)."""
        to = to.astimezone(UTC)
        gap_s = (to - self.time).total_seconds()
        step = timedelta(seconds=max(self.config.max_step_s, gap_s / MAX_STEPS))
        while self.time < to:
            step_end = min(to, self.time + step)
            midnight = self._next_local_midnight()
            if midnight <= step_end:
                step_end = midnight
            self._step(step_end)
            if self.local_time().date() != self.day:
                self.day = self.local_time().date()
                self.today_kwh = dict.fromkeys(COUNTERS, 0.0)
        self.powers = self.powers_at(self.time)

    def _next_local_midnight(self) -> datetime:
        local = self.local_time()
        next_day = local.date() + timedelta(days=1)
        midnight = datetime(next_day.year, next_day.month, next_day.day, tzinfo=self.zone)
        return midnight.astimezone(UTC)

    def _step(self, end: datetime) -> None:
        seconds = (end - self.time).total_seconds()
        mid = self.time + (end - self.time) / 2
        flows = self.powers_at(mid)
        c = self.config
        capacity = c.battery_kwh * 1000
        battery_wh = flows.battery * seconds / 3600
        if battery_wh < 0:
            room = capacity * c.soc_max_pct / 100 - self.soc_wh
            stored = min(-battery_wh * c.battery_efficiency, max(room, 0.0))
            battery_wh = -stored / c.battery_efficiency
            self.soc_wh += stored
        elif battery_wh > 0:
            available = self.soc_wh - capacity * c.soc_min_pct / 100
            drawn = min(battery_wh / c.battery_efficiency, max(available, 0.0))
            battery_wh = drawn * c.battery_efficiency
            self.soc_wh -= drawn
        pv_wh = flows.pv * seconds / 3600
        load_wh = flows.load * seconds / 3600
        grid_wh = pv_wh + battery_wh - load_wh
        energy = {
            "pv": pv_wh,
            "load": load_wh,
            "export": max(grid_wh, 0.0),
            "import": max(-grid_wh, 0.0),
            "charge": max(-battery_wh, 0.0),
            "discharge": max(battery_wh, 0.0),
        }
        for name, wh in energy.items():
            self.lifetime_kwh[name] += wh / 1000
            self.today_kwh[name] += wh / 1000
        self.time = end

    def sensor_values(self) -> dict[str, Any]:
        """The current state as ``goodwe`` ET sensor ids, quantised so that
        ``ppv1 + ppv2 + pbattery1 - active_power == load_ptotal`` holds exactly."""
        p = self.powers
        pv1, pv2 = round(p.pv1), round(p.pv2)
        battery = round(p.battery)
        grid = round(p.grid)
        load = pv1 + pv2 + battery - grid
        local = self.local_time().replace(microsecond=0, tzinfo=None)
        t = self.time.timestamp()
        vgrid = 231.0 + 3.0 * self._grid_wiggle(t)
        fgrid = 50.0 + 0.03 * self._grid_wiggle(t / 7)
        vbat = self.config.battery_nominal_v * (0.92 + 0.16 * self.soc_pct / 100)
        vpv1 = 520.0 if pv1 > 0 else 0.0
        vpv2 = 480.0 if pv2 > 0 else 0.0
        mode = (
            0 if self.config.battery_kwh <= 0 else (3 if battery < 0 else 2 if battery > 0 else 1)
        )
        temperature = 28.0 + 15.0 * (pv1 + pv2) / max(self.config.pv_peak_w, 1.0)
        lt, td = self.lifetime_kwh, self.today_kwh
        return {
            "timestamp": local,
            "vpv1": vpv1,
            "ipv1": pv1 / vpv1 if vpv1 else 0.0,
            "ppv1": pv1,
            "vpv2": vpv2,
            "ipv2": pv2 / vpv2 if vpv2 else 0.0,
            "ppv2": pv2,
            "pv1_mode": 2 if pv1 > 0 else 0,
            "pv2_mode": 2 if pv2 > 0 else 0,
            "vgrid": vgrid,
            "igrid": abs(grid) / 3 / vgrid,
            "fgrid": fgrid,
            "pgrid": round(grid / 3),
            "vgrid2": vgrid + 0.7,
            "igrid2": abs(grid) / 3 / vgrid,
            "fgrid2": fgrid,
            "pgrid2": round(grid / 3),
            "vgrid3": vgrid - 0.5,
            "igrid3": abs(grid) / 3 / vgrid,
            "fgrid3": fgrid,
            "pgrid3": grid - 2 * round(grid / 3),
            "grid_mode": 1,
            "total_inverter_power": pv1 + pv2 + battery,
            "active_power": grid,
            "load_ptotal": load,
            "load_p1": round(load / 3),
            "load_p2": round(load / 3),
            "load_p3": load - 2 * round(load / 3),
            "temperature_air": temperature - 5,
            "temperature_module": temperature - 2,
            "temperature": temperature,
            "bus_voltage": 780.0,
            "nbus_voltage": 390.0,
            "vbattery1": vbat,
            "ibattery1": battery / vbat if self.config.battery_kwh > 0 else 0.0,
            "pbattery1": battery,
            "battery_mode": mode,
            "safety_country": 32,
            "work_mode": 1,
            "operation_mode": 0,
            "e_total": lt["pv"],
            "e_day": td["pv"],
            "e_total_exp": lt["export"],
            "h_total": 8760,
            "e_day_exp": td["export"],
            "e_total_imp": lt["import"],
            "e_day_imp": td["import"],
            "e_load_total": lt["load"],
            "e_load_day": td["load"],
            "e_bat_charge_total": lt["charge"],
            "e_bat_charge_day": td["charge"],
            "e_bat_discharge_total": lt["discharge"],
            "e_bat_discharge_day": td["discharge"],
            "battery_bms": 255,
            "battery_index": 256,
            "battery_status": 1,
            "battery_temperature": 22.0 + 3.0 * abs(battery) / max(self.config.battery_max_w, 1.0),
            "battery_charge_limit": 25,
            "battery_discharge_limit": 25,
            "battery_soc": round(self.soc_pct),
            "battery_soh": 99,
            "battery_modules": 5,
            "battery_protocol": 257,
            "battery_sw_version": 0,
            "battery_hw_version": 0,
            "battery_max_cell_temp": 24.0,
            "battery_min_cell_temp": 21.0,
            "battery_max_cell_voltage": 3.352,
            "battery_min_cell_voltage": 3.341,
            "commode": 1,
            "rssi": 35,
            "manufacture_code": 10,
            "meter_test_status": 1,
            "meter_comm_status": 1,
            "active_power1": round(grid / 3),
            "active_power2": round(grid / 3),
            "active_power3": grid - 2 * round(grid / 3),
            "active_power_total": grid,
            "meter_power_factor1": 0.99,
            "meter_power_factor2": 0.99,
            "meter_power_factor3": 0.99,
            "meter_power_factor": 0.99,
            "meter_freq": fgrid,
            "meter_e_total_exp": lt["export"],
            "meter_e_total_imp": lt["import"],
            "meter_active_power1": round(grid / 3),
            "meter_active_power2": round(grid / 3),
            "meter_active_power3": grid - 2 * round(grid / 3),
            "meter_active_power_total": grid,
            "meter_type": 2,
            "meter_sw_version": 3,
        }
