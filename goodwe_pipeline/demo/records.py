"""The optimiser's records, one by one, as its versions wrote them (docs/migration.md lists them).

Readings: the collector's nested dict (version 1, and version 2 with the
coordinator's additions and aliases) and the flat record of the daily arrays and
the SQLite table (schema 3, or 4 with lifetime totals). Decisions: charging
(variants a and b) and selling. Values are at the resolution ``goodwe`` decodes
them; a missing sensor reads ``"Unknown"`` (its ``*_kw`` copy then ``0.0``).
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from goodwe_pipeline.demo.legacy_files import SCHEMA_VERSION
from goodwe_pipeline.demo.optimiser import Decision, Sample, Session


def _r(value: float, digits: int) -> float:
    return round(float(value), digits)


def _measures(v: dict[str, Any]) -> dict[str, float]:
    """The sensor values at the resolution ``goodwe`` decodes them (W, 0.1 V/A/°C/kWh)."""
    pv1, pv2 = int(v["ppv1"]), int(v["ppv2"])
    return {
        "pv": pv1 + pv2,
        "pv1": pv1,
        "pv2": pv2,
        "vpv1": _r(v["vpv1"], 1),
        "ipv1": _r(v["ipv1"], 1),
        "vpv2": _r(v["vpv2"], 1),
        "ipv2": _r(v["ipv2"], 1),
        "battery": int(v["pbattery1"]),
        "vbat": _r(v["vbattery1"], 1),
        "ibat": _r(v["ibattery1"], 1),
        "btemp": _r(v["battery_temperature"], 1),
        "soc": int(v["battery_soc"]),
        "grid": int(v["active_power"]),
        "l1": int(v["active_power1"]),
        "l2": int(v["active_power2"]),
        "l3": int(v["active_power3"]),
        "vgrid": _r(v["vgrid"], 1),
        "igrid": _r(v["igrid"], 1),
        "fgrid": _r(v["fgrid"], 2),
        "load": int(v["load_ptotal"]),
        "e_day": _r(v["e_day"], 1),
        "e_total": _r(v["e_total"], 1),
        "e_load_day": _r(v["e_load_day"], 1),
        "e_load_total": _r(v["e_load_total"], 1),
        "e_imp_day": _r(v["e_day_imp"], 1),
        "e_exp_day": _r(v["e_day_exp"], 1),
        "e_imp_total": _r(v["e_total_imp"], 1),
        "e_exp_total": _r(v["e_total_exp"], 1),
    }


def _zone_name(local: datetime) -> str:
    hour = local.hour
    return "T2" if hour >= 22 or hour < 6 or 13 <= hour < 15 else "T1"


def _unknowns(sample: Sample, seed: int) -> random.Random:
    return random.Random(f"{seed}:{sample.utc.timestamp():.3f}")


def nested_reading(sample: Sample, version: int, serial: str, model: str, seed: int) -> dict:
    """The collector's nested reading dict (version 1 or 2 of the optimiser)."""
    m = _measures(sample.values)
    rng = _unknowns(sample, seed)
    ts = sample.local.isoformat()
    battery_temp: float | str = m["btemp"]
    if rng.random() < 0.01:
        battery_temp = "Unknown"
    load: float | str = m["load"]
    load_kw = round(m["load"] / 1000, 3)
    if version == 1 and rng.random() < 0.005:
        load, load_kw = "Unknown", 0.0
    exporting = m["grid"] > 0
    reading: dict[str, Any] = {
        "timestamp": ts,
        "date": sample.local.date().isoformat(),
        "time": sample.local.strftime("%H:%M:%S"),
        "battery": {
            "soc_percent": m["soc"],
            "voltage": m["vbat"],
            "current": m["ibat"],
            "power_w": m["battery"],
            "power_kw": round(m["battery"] / 1000, 3),
            "temperature": battery_temp,
            "charging_status": m["battery"] < 0,
            "fast_charging_enabled": sample.forced == "charge",
        },
        "photovoltaic": {
            "current_power_w": m["pv"],
            "current_power_kw": round(m["pv"] / 1000, 3),
            "pv1_power_w": m["pv1"],
            "pv2_power_w": m["pv2"],
            "pv1_voltage": m["vpv1"],
            "pv1_current": m["ipv1"],
            "pv2_voltage": m["vpv2"],
            "pv2_current": m["ipv2"],
            "daily_production_kwh": m["e_day"],
            "efficiency_percent": 0.0,
        },
        "grid": {
            "power_w": m["grid"],
            "power_kw": round(m["grid"] / 1000, 3),
            # version 1 labelled the flow backwards: only the sign of power_w is reliable
            "flow_direction": ("Importing" if exporting else "Exporting")
            if version == 1
            else ("Export" if exporting else "Import"),
            "import_rate": 0.0,
            "export_rate": 0.0,
            "l1_power": m["l1"],
            "l2_power": m["l2"],
            "l3_power": m["l3"],
            "total_exported_kwh": m["e_exp_total"],
            "total_imported_kwh": m["e_imp_total"],
            "today_exported_kwh": m["e_exp_day"],
            "today_imported_kwh": m["e_imp_day"],
        },
        "house_consumption": {
            "current_power_w": load,
            "current_power_kw": load_kw,
            "daily_total_kwh": m["e_load_day"],
            "total_consumption_kwh": m["e_load_total"],
            "calculated_power_w": m["pv"] + m["battery"] - m["grid"],
            "calculated_power_kw": round((m["pv"] + m["battery"] - m["grid"]) / 1000, 3),
        },
        "system": {
            "inverter_model": model,
            "inverter_serial": serial,
            "connection_status": "connected",
            "last_update": ts,
        },
    }
    if version >= 2:
        grid = reading["grid"]
        grid["voltage"] = "Unknown" if rng.random() < 0.01 else m["vgrid"]
        for phase in (1, 2, 3):
            grid[f"l{phase}_current_a"] = round(abs(m[f"l{phase}"]) / m["vgrid"], 2)
        reading["tariff_zone"] = _zone_name(sample.local)
        reading["inverter"] = {**reading["system"], "error_codes": []}
        reading["pv"] = {"power": m["pv"], "power_w": m["pv"], "total_power": m["pv"]}
        reading["consumption"] = {
            "house_consumption": load,
            "power_w": load,
            "current_power_w": load,
        }
        if sample.forced == "sell":
            reading["battery_selling"] = {"active": True, "selling_power_w": -m["grid"]}
    return reading


def flat_record(sample: Sample, version: int, seed: int) -> dict:
    """A flat record of the daily arrays and the SQLite table (schema 3, or 4 with totals)."""
    m = _measures(sample.values)
    rng = _unknowns(sample, seed + 1)
    record: dict[str, Any] = {
        "timestamp": sample.local.isoformat(),
        "battery_soc": m["soc"],
        "pv_power": m["pv"],
        "grid_power": m["grid"],
        "house_consumption": m["load"],
        "battery_power": m["battery"],
        "grid_voltage": m["vgrid"],
        "grid_frequency": m["fgrid"],
        "battery_voltage": m["vbat"],
        "battery_current": m["ibat"],
        "battery_temperature": None if rng.random() < 0.01 else m["btemp"],
        "price_pln": None,
    }
    if version >= SCHEMA_VERSION:
        record.update(
            grid_import_total_kwh=m["e_imp_total"],
            grid_export_total_kwh=m["e_exp_total"],
            house_consumption_total_kwh=m["e_load_total"],
            pv_generation_total_kwh=m["e_total"],
            tariff_zone=_zone_name(sample.local),
        )
    return record


def hours(session: Session) -> float:
    return (session.end - session.start).total_seconds() / 3600


def charging_a(d: Decision) -> dict:
    session = d.details.get("session")
    energy = session.target_energy_kwh if session and d.action == "charge" else 0.0
    cost = session.estimated_cost_pln if session and d.action == "charge" else 0.0
    return {
        "timestamp": d.local.isoformat(),
        "action": d.action,
        "source": "grid" if d.action == "charge" else "none",
        "duration": round(hours(session), 2) if session and d.action == "charge" else 0.0,
        "energy_kwh": energy,
        "estimated_cost_pln": cost,
        "estimated_savings_pln": session.estimated_savings_pln
        if session and d.action == "charge"
        else 0.0,
        "confidence": 0.85 if d.action == "charge" else 0.6,
        "reason": d.reason,
        "priority": "high" if d.action == "charge" else "low",
        "battery_soc": d.soc,
        "pv_power": d.pv_w,
        "house_consumption": d.load_w,
        "current_price": d.price_pln_kwh,
        "cheapest_price": d.details.get("cheapest_price", d.price_pln_kwh),
        "cheapest_hour": d.details.get("cheapest_hour", d.local.hour),
    }


def charging_b(d: Decision) -> dict:
    session = d.details.get("session")
    charging = session is not None and d.action == "charge"
    return {
        "timestamp": d.local.isoformat(),
        "action": d.action,
        "charging_source": "grid" if charging else "none",
        "duration_hours": round(hours(session), 2) if charging else 0.0,
        "start_time": session.start_local.isoformat() if charging else None,
        "end_time": session.end_local.isoformat() if charging else None,
        "pv_contribution_kwh": 0.0,
        "grid_contribution_kwh": session.target_energy_kwh if charging else 0.0,
        "estimated_cost_pln": session.estimated_cost_pln if charging else 0.0,
        "confidence": 0.85 if charging else 0.6,
        "reason": d.reason,
        "battery_soc": d.soc,
        "current_price": d.price_pln_kwh,
    }


def selling(d: Decision) -> dict:
    session = d.details.get("session")
    selling = d.action == "start_selling" and session is not None
    price = d.details.get("market_pln_mwh", 0.0) / 1000
    return {
        "timestamp": d.local.isoformat(),
        "decision": d.action,
        "confidence": 0.8 if selling else 0.5,
        "expected_revenue_pln": round(session.target_energy_kwh * price, 2) if selling else 0.0,
        "selling_power_w": session.power_w if selling else 0.0,
        "estimated_duration_hours": 1.0 if selling else 0.0,
        "reasoning": d.reason,
        "safety_checks_passed": selling,
        "risk_level": "low" if selling else "medium",
        "current_price_pln": round(price, 4),
        "battery_soc": d.soc,
        "pv_power": d.pv_w,
        "house_consumption": d.load_w,
        "energy_sold_kwh": 0.0,
        "revenue_per_kwh_pln": round(price, 4),
        "safety_status": "ok" if selling else "soc_below_margin",
    }


def parameters(d: Decision) -> dict:
    session = d.details.get("session")
    out: dict[str, Any] = {"battery_soc": d.soc, "current_price": d.price_pln_kwh}
    if session is not None:
        out.update(session_id=session.session_id, power_w=session.power_w)
    return out


def sale_record(s: Session) -> dict:
    return {
        "session_id": s.session_id,
        "start_time": s.start_local.isoformat(),
        "end_time": (s.completed_local or s.end_local).isoformat(),
        "start_soc": s.start_soc,
        "end_soc": s.end_soc,
        "energy_sold_kwh": s.actual_energy_kwh,
        "average_price_pln": s.avg_price_pln_kwh,
        "revenue_pln": s.actual_cost_pln,
        "selling_power_w": s.power_w,
        "duration_hours": round(hours(s), 2),
        "safety_checks_passed": True,
        "risk_level": "low",
    }
