"""A legacy optimiser folder for the tests, with its exact expected content.

``write_corpus`` simulates the optimiser over consecutive local days: a truth
of readings (one every ``interval_minutes``, at real UTC instants, so autumn's
repeated hour repeats its wall-clock times), written in the formats its
versions used, overlapping, plus every kind of broken file. It returns what a
correct migration must produce: distinct valid readings per local day, the
decision rows, the files that must be rejected.

Eras (by day position, for a 30-day corpus; shorter corpora get a prefix):
 0-9   standalone collector: ``historical_data`` (last 12 readings, hourly),
       ``current_data`` (hourly), ``daily_stats``, charging decisions (variant a)
 10-19 coordinator: ``coordinator_state_YYYYMMDD`` JSON Lines, daily flat arrays,
       daily plans; SQLite ``energy_data`` from day 14; the October DST day also
       gets snapshots; charging decisions (variant b) 10-12, selling decisions 15-19
 20-24 SQLite only (plus ``coordinator_decisions``, sessions, selling records)
 25-26 roadmap files ``energy_data_YYYYMMDD_HHMMSS.json[.gz]`` (one per reading)
 27-29 daily flat arrays and coordinator shutdown snapshots
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from goodwe_pipeline.demo.legacy_files import (
    LegacyFolder,
    OptimiserDatabase,
    array_element,
    json_array,
)

SERIAL = "9010KETU000W0001"
MODEL = "GW10KN-ET"


@dataclass
class Truth:
    """One reading as the inverter produced it."""

    utc: datetime
    local: datetime
    values: dict[str, float]
    invalid: bool = False

    @property
    def stamp(self) -> str:
        return self.local.replace(tzinfo=None, fold=0).isoformat()


@dataclass
class Corpus:
    root: Path
    tz: str
    days: list[date]
    expected: dict[date, int]
    """Distinct valid readings per local day (one device: ``SERIAL``)."""
    instants: dict[date, set[datetime]] = field(default_factory=dict)
    """Their UTC instants."""
    decisions: int = 0
    planned: int = 0
    selling: int = 0
    rejected_files: dict[str, str] = field(default_factory=dict)
    """Relative path -> a fragment of the expected rejection reason."""
    unknown_pv: list[datetime] = field(default_factory=list)
    """UTC instants whose PV power was "Unknown" (must be NaN, never 0)."""
    string_soc: dict[datetime, float] = field(default_factory=dict)
    """UTC instants whose SOC was written as text, with the number."""
    stats_mismatch_days: set[date] = field(default_factory=set)
    stats_days: set[date] = field(default_factory=set)
    gap_stamp: str | None = None
    """A spring-gap wall-clock time written into the corpus (spring corpora only)."""
    gap_day: date | None = None

    @property
    def first(self) -> date:
        return self.days[0]

    @property
    def last(self) -> date:
        return self.days[-1]


def _local_days(first: date, count: int, tz: ZoneInfo) -> list[tuple[date, datetime, datetime]]:
    out = []
    for k in range(count):
        day = first + timedelta(days=k)
        start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
        out.append((day, start, end))
    return out


def _truth(first: date, count: int, tz: ZoneInfo, interval: int) -> list[list[Truth]]:
    rng = random.Random(42)
    per_day: list[list[Truth]] = []
    counters = {"pv": 0.0, "load": 0.0}
    for _day, start, end in _local_days(first, count, tz):
        counters = {"pv": 0.0, "load": 0.0}
        readings = []
        moment = start + timedelta(seconds=7)
        n = 0
        while moment < end:
            moment_us = moment + timedelta(microseconds=(n * 7919 + 13) % 1_000_000)
            local = moment_us.astimezone(tz)
            hour = local.hour + local.minute / 60
            pv = max(0.0, 6000 * math.sin(math.pi * (hour - 6) / 12)) if 6 < hour < 18 else 0.0
            pv = round(pv, 1)
            load = round(400 + 300 * rng.random() + (1500 if 17 <= hour < 21 else 0), 1)
            battery = round(rng.uniform(-2000, 2000), 1)
            grid = round(pv + battery - load, 1)
            soc = round(20 + 60 * (0.5 + 0.5 * math.sin(n / 20)), 1)
            values = {
                "pv": pv,
                "pv1": round(pv / 2, 1),
                "pv2": round(pv / 2, 1),
                "load": load,
                "battery": battery,
                "grid": grid,
                "soc": soc,
                "battery_voltage": round(52 + rng.random(), 2),
                "battery_current": round(battery / 52, 2),
                "battery_temperature": round(22 + rng.random() * 3, 1),
                "grid_voltage": round(229 + rng.random() * 3, 1),
                "grid_frequency": round(49.95 + rng.random() * 0.1, 3),
                "pv_today": round(counters["pv"], 3),
                "load_today": round(counters["load"], 3),
                "import_total": round(2000 + n * 0.05, 2),
                "export_total": round(1000 + n * 0.04, 2),
            }
            counters["pv"] += pv * interval / 60 / 1000
            counters["load"] += load * interval / 60 / 1000
            readings.append(Truth(moment_us, local, values))
            moment += timedelta(minutes=interval)
            n += 1
        if len(readings) > 40:
            readings[30].invalid = True
        per_day.append(readings)
    return per_day


def reading_at(local: str, **values: float) -> Truth:
    """A single reading at a wall-clock time (tests of one record)."""
    base = {
        "pv": 1000.0, "pv1": 500.0, "pv2": 500.0, "load": 700.0, "battery": -300.0, "grid": 0.0,
        "soc": 55.0, "battery_voltage": 52.1, "battery_current": -5.7, "battery_temperature": 23.0,
        "grid_voltage": 230.0, "grid_frequency": 50.0, "pv_today": 3.2, "load_today": 4.1,
        "import_total": 2000.0, "export_total": 1000.0,
    }  # fmt: skip
    moment = datetime.fromisoformat(local)
    return Truth(moment.replace(tzinfo=UTC), moment, {**base, **values})


def nested(
    t: Truth, *, unknown_pv: bool = False, text_soc: bool = False, serial: str = SERIAL
) -> dict:
    """The collector's reading dict (``enhanced_data_collector``), with its quirks."""
    v = t.values
    pv: Any = "Unknown" if unknown_pv else v["pv"]
    soc: Any = str(v["soc"]) if text_soc else v["soc"]
    stamp = t.stamp
    reading = {
        "timestamp": stamp,
        "date": stamp[:10],
        "time": stamp[11:19],
        "battery": {
            "soc_percent": soc,
            "voltage": v["battery_voltage"],
            "current": v["battery_current"],
            "power_w": v["battery"],
            "power_kw": v["battery"] / 1000,
            "temperature": v["battery_temperature"],
            "charging_status": v["battery"] < 0,
            "fast_charging_enabled": False,
        },
        "photovoltaic": {
            "current_power_w": pv,
            "current_power_kw": 0.0 if unknown_pv else v["pv"] / 1000,
            "pv1_power_w": v["pv1"],
            "pv2_power_w": v["pv2"],
            "pv1_voltage": 380.1,
            "pv1_current": None,
            "pv2_voltage": "Unknown",
            "pv2_current": "Unknown",
            "daily_production_kwh": v["pv_today"],
            "efficiency_percent": 0.0,
        },
        "grid": {
            "power_w": v["grid"],
            "power_kw": v["grid"] / 1000,
            "voltage": v["grid_voltage"],
            "flow_direction": "Import" if v["grid"] > 0 else "Export",
            "import_rate": 0.0,
            "export_rate": 0.0,
            "l1_current_a": "Unknown",
            "l2_current_a": None,
            "l3_current_a": 1.2,
            "l1_power": v["grid"] / 3,
            "l2_power": v["grid"] / 3,
            "l3_power": v["grid"] / 3,
            "total_exported_kwh": v["export_total"],
            "total_imported_kwh": v["import_total"],
            "today_exported_kwh": "Unknown",
            "today_imported_kwh": None,
        },
        "house_consumption": {
            "current_power_w": v["load"],
            "current_power_kw": v["load"] / 1000,
            "daily_total_kwh": v["load_today"],
            "total_consumption_kwh": "Unknown",
            "calculated_power_w": v["load"],
            "calculated_power_kw": v["load"] / 1000,
        },
        "system": {
            "inverter_model": MODEL,
            "inverter_serial": serial,
            "connection_status": "Connected",
            "last_update": stamp,
        },
    }
    reading["inverter"] = {**reading["system"], "error_codes": []}
    reading["pv"] = {"power": pv, "power_w": pv, "total_power": pv}
    reading["consumption"] = {
        "house_consumption": v["load"],
        "power_w": v["load"],
        "current_power_w": v["load"],
    }
    if t.invalid:
        reading["battery"]["soc_percent"] = 250
    return reading


def flat(t: Truth, *, version: int = 4, unknown_pv: bool = False) -> dict:
    v = t.values
    record = {
        "timestamp": t.stamp,
        "battery_soc": 250 if t.invalid else v["soc"],
        "pv_power": None if unknown_pv else v["pv"],
        "grid_power": v["grid"],
        "house_consumption": v["load"],
        "battery_power": v["battery"],
        "grid_voltage": v["grid_voltage"],
        "grid_frequency": v["grid_frequency"],
        "battery_voltage": v["battery_voltage"],
        "battery_current": v["battery_current"],
        "battery_temperature": v["battery_temperature"],
        "price_pln": None,
    }
    if version >= 4:
        record.update(
            grid_import_total_kwh=v["import_total"],
            grid_export_total_kwh=v["export_total"],
            house_consumption_total_kwh=None,
            pv_generation_total_kwh="Unknown",
            tariff_zone="T2",
        )
    return record


def write_corpus(
    root: Path,
    first: date = date(2025, 10, 10),
    count: int = 30,
    *,
    tz: str = "Europe/Warsaw",
    interval_minutes: int = 10,
) -> Corpus:
    """Write the corpus under ``root`` (created) and return what a migration must find."""
    zone = ZoneInfo(tz)
    root.mkdir(parents=True, exist_ok=True)
    w = LegacyFolder(root, tz)
    truth = _truth(first, count, zone, interval_minutes)
    days = [d for d, _, _ in _local_days(first, count, zone)]
    corpus = Corpus(root=root, tz=tz, days=days, expected={})
    written: set[datetime] = set()
    by_day = dict(zip(days, truth, strict=True))

    # Invalid readings (SOC 250 everywhere they are written) and quirky ones.
    for position, readings in enumerate(truth):
        if position % 3 == 0 and len(readings) > 60:
            corpus.unknown_pv.append(readings[55].utc)
            corpus.string_soc[readings[57].utc] = readings[57].values["soc"]

    def quirks(t: Truth) -> dict:
        return {"unknown_pv": t.utc in corpus.unknown_pv, "text_soc": t.utc in corpus.string_soc}

    dst_days = {d for d, s, e in _local_days(first, count, zone) if (e - s) != timedelta(hours=24)}
    snapshot_days = set(days[0:10]) | (dst_days & set(days[10:20]))
    flat_days = set(days[10:20]) | set(days[27:30])
    jsonl_days = set(days[10:20])
    db_days = set(days[14:25])
    roadmap_days = set(days[25:27])
    shutdown_days = set(days[27:30])

    readings_all = [t for readings in truth for t in readings]
    position_of = {id(t): i for i, t in enumerate(readings_all)}

    # historical_data + current_data: hourly snapshots of the last 12 readings.
    for day in sorted(snapshot_days):
        for t in by_day[day]:
            index = position_of[id(t)]
            if t.local.minute >= interval_minutes:
                continue
            write_time = t.utc + timedelta(seconds=3)
            window = readings_all[max(0, index - 11) : index + 1]
            w.historical_data([nested(x, **quirks(x)) for x in window], write_time, write_time)
            written.update(x.utc for x in window)
            path = w.current_data(nested(t, **quirks(t)), write_time, write_time)
            if t.invalid:
                corpus.rejected_files[path] = "battery SOC 250"

    # daily_stats for the standalone era; one deliberately off by 30 %.
    for position, day in enumerate(days[0:10]):
        readings = [t for t in by_day[day] if not t.invalid]
        pv = sum(t.values["pv"] for t in readings) * interval_minutes / 60 / 1000
        load = sum(t.values["load"] for t in readings) * interval_minutes / 60 / 1000
        factor = 1.3 if position == 5 else 1.0
        if position == 5:
            corpus.stats_mismatch_days.add(day)
        corpus.stats_days.add(day)
        stats = {
            "date": day.isoformat(),
            "pv_production": {
                "total_kwh": pv * factor,
                "peak_power": 6.0,
                "peak_time": "12:00:07",
                "hours_above_1kw": 9.0,
                "hours_above_5kw": 3.0,
            },
            "battery": {
                "total_charge_kwh": 5.0,
                "total_discharge_kwh": 4.0,
                "min_soc": 20.0,
                "max_soc": 80.0,
                "charge_cycles": 1,
            },
            "grid": {
                "total_import_kwh": 3.0,
                "total_export_kwh": 8.0,
                "peak_import": 3.0,
                "peak_export": 5.0,
                "net_consumption": -5.0,
            },
            "house_consumption": {"total_kwh": load, "peak_power": 2.3, "peak_time": "18:00:07"},
        }
        w.daily_stats(day, stats)

    # coordinator JSON Lines: one state per reading (and a state before the first reading).
    for day in sorted(jsonl_days):
        lines: list[dict] = [
            {"timestamp": f"{day}T00:00:01", "state": "starting", "current_data": {}}
        ]
        for t in by_day[day]:
            state = {
                "timestamp": t.stamp,
                "state": "monitoring",
                "uptime_seconds": 60.0,
                "current_data": nested(t, **quirks(t)),
                "performance_metrics": {"loops": 1},
                "decision_count": 3,
            }
            lines.append(state)
            written.add(t.utc)
        if day == days[12]:
            future = {"timestamp": "2099-01-01T00:00:00", "current_data": nested(by_day[day][5])}
            future["current_data"]["timestamp"] = "2099-01-01T00:00:00"
            lines.append(future)
        w.coordinator_log(day, lines)

    # daily flat arrays (written by the storage layer with indent=2).
    for day in sorted(flat_days):
        records: list[Any] = [flat(t, unknown_pv=t.utc in corpus.unknown_pv) for t in by_day[day]]
        written.update(t.utc for t in by_day[day])
        if day == days[11]:
            records.insert(3, 42)
            bad = flat(by_day[day][4])
            bad["timestamp"] = 12345
            records.insert(5, bad)
            old = flat(by_day[day][6])
            old["timestamp"] = "1970-01-01T00:05:00"
            records.append(old)
        w.daily_array(day, records)

    # the optimiser's SQLite database (WAL mode, closed cleanly: no -wal file left).
    database = w.database("2025-10-01")
    for day in sorted(db_days):
        for t in by_day[day]:
            record = flat(t, unknown_pv=t.utc in corpus.unknown_pv)
            if t.utc in corpus.string_soc:
                record["battery_soc"] = str(record["battery_soc"])
            database.readings([record])
            written.add(t.utc)
    columns = list(flat(by_day[days[0]][0]))
    values = [
        "1970-01-01T01:00:00",
        50,
        0,
        0,
        0,
        0,
        230,
        50,
        52,
        0,
        20,
        None,
        None,
        None,
        None,
        None,
        "T1",
    ]
    database.readings([dict(zip(columns, values, strict=True))])

    # roadmap snapshots, one file per reading, some gzipped.
    for day in sorted(roadmap_days):
        for n, t in enumerate(by_day[day]):
            write_time = t.utc + timedelta(seconds=1)
            path = w.energy_snapshot(
                nested(t, **quirks(t)), write_time, write_time, gzipped=bool(n % 2)
            )
            if t.invalid:
                corpus.rejected_files[path] = "battery SOC 250"
            written.add(t.utc)

    # coordinator shutdown snapshots (the day's last reading, already in the flat array).
    for day in sorted(shutdown_days):
        t = by_day[day][-1]
        write_time = t.utc + timedelta(seconds=20)
        state = {
            "timestamp": (write_time.astimezone(zone).replace(tzinfo=None)).isoformat(),
            "state": "stopped",
            "uptime_seconds": 8000.0,
            "current_data": nested(t),
            "performance_metrics": {},
            "decision_count": 12,
        }
        w.coordinator_snapshot(state, write_time, write_time)

    _write_decisions(w, database, corpus, days, by_day)
    database.close()
    _write_broken(w, corpus, days, by_day, quirks)

    for day in days:
        corpus.instants[day] = {t.utc for t in by_day[day] if t.utc in written and not t.invalid}
        corpus.expected[day] = len(corpus.instants[day])
    return corpus


def _write_broken(w: LegacyFolder, corpus: Corpus, days: list[date], by_day: dict, quirks) -> None:
    """Broken files, none of which holds the only copy of a valid reading."""
    day = days[min(2, len(days) - 1)]
    readings = by_day[day]
    noon = readings[len(readings) // 2]

    def reject(path: str, reason: str) -> None:
        corpus.rejected_files[path] = reason

    at = noon.utc + timedelta(minutes=1)
    text = json.dumps(nested(noon), indent=2)
    reject(
        w.current_data(text[: len(text) // 2], at, at),
        "truncated JSON",
    )
    at += timedelta(minutes=1)
    reject(w.current_data(b"", at, at), "empty file")
    at += timedelta(minutes=1)
    junk = random.Random(7).randbytes(3000)
    reject(w.historical_data(junk, at, at), "not JSON")
    at += timedelta(minutes=1)
    reject(
        w.energy_snapshot(b"\x1f\x8bnot really gzip", at, at, gzipped=True),
        "invalid gzip",
    )
    at += timedelta(minutes=1)
    reject(
        w.current_data('"hello"', at, at),
        "expected an object",
    )
    at += timedelta(minutes=1)
    soc_bad = nested(noon)
    soc_bad["battery"]["soc_percent"] = 250
    reject(
        w.current_data(json.dumps(soc_bad), at, at),
        "battery SOC 250",
    )
    at += timedelta(minutes=1)
    wrong = nested(noon)
    wrong["timestamp"] = ["not", "a", "time"]
    reject(
        w.current_data(json.dumps(wrong), at, at),
        "timestamp is list",
    )
    # a clock that was never set: name and content in 1970
    old = nested(noon)
    old["timestamp"] = "1970-01-01T00:05:12.000001"
    reject(w.current_data(json.dumps(old), datetime(1970, 1, 1, 0, 5, 12)), "before 2010")
    # a truncated historical snapshot: its complete elements are recovered (all also elsewhere)
    hour_end = [t for t in readings if t.local.hour == 22 and t.local.minute < 10][0]
    index = readings.index(hour_end)
    window = readings[index - 11 : index + 1]
    text = json.dumps([nested(x, **quirks(x)) for x in window], indent=2)
    cut = text[: int(len(text) * 0.6)]
    at = hour_end.utc + timedelta(seconds=30)
    w.historical_data(cut, at, at)
    # a truncated charging decision
    reject(
        w.charging_decision('{"timestamp": "20', datetime.combine(day, time(23, 59, 59))),
        "truncated JSON",
    )


def _write_decisions(
    w: LegacyFolder, database: OptimiserDatabase, corpus: Corpus, days, by_day
) -> None:
    # (a) charging decisions, standalone era: two per day
    for day in days[0:10]:
        for hour, action in ((1, "charge"), (13, "wait")):
            stamp = f"{day}T{hour:02d}:00:05.250000"
            decision = {
                "timestamp": stamp,
                "action": action,
                "source": "grid",
                "duration": 1.5,
                "energy_kwh": 4.5,
                "estimated_cost_pln": 2.1,
                "estimated_savings_pln": 0.8,
                "confidence": 0.85,
                "reason": f"price window {hour}:00",
                "priority": "high",
                "battery_soc": 35,
                "pv_power": 0,
                "house_consumption": 500,
                "current_price": 0.42,
                "cheapest_price": 0.38,
                "cheapest_hour": 2,
            }
            w.charging_decision(decision, datetime.combine(day, time(hour, 0, 5)))
            corpus.decisions += 1
    # one more with a clock-not-set timestamp: rejected record
    path = w.charging_decision(
        json.dumps({"timestamp": "1970-01-01T05:00:00", "action": "wait"}),
        datetime.combine(days[1], time(5)),
    )
    corpus.rejected_files[path] = "before 2010"
    # (b) variant without timestamp: time from the file name
    for day in days[10:13]:
        decision = {
            "action": "charge",
            "charging_source": "hybrid",
            "duration_hours": 2.0,
            "start_time": f"{day}T02:00:00",
            "end_time": f"{day}T04:00:00",
            "pv_contribution_kwh": 0.0,
            "grid_contribution_kwh": 6.0,
        }
        w.charging_decision(decision, datetime.combine(day, time(1, 30)))
        corpus.decisions += 1
    # selling decisions (no timestamp field)
    for day in days[15:20]:
        decision = {
            "decision": "sell",
            "confidence": 0.7,
            "expected_revenue_pln": 3.2,
            "selling_power_w": 5000,
            "estimated_duration_hours": 1.0,
            "reasoning": ["high price", "SOC above 80%"],
            "safety_checks_passed": True,
            "risk_level": "low",
            "current_price_pln": 0.95,
            "battery_soc": 85,
            "pv_power": 0,
            "house_consumption": 600,
            "energy_sold_kwh": 4.0,
            "revenue_per_kwh_pln": 0.8,
            "safety_status": "ok",
        }
        w.selling_decision(decision, datetime.combine(day, time(19)))
        corpus.decisions += 1
    # daily plans with two sessions each
    for day in days[10:20]:
        sessions = [
            {
                "session_id": f"{day:%Y%m%d}_1",
                "start_time": "02:00",
                "end_time": "04:00",
                "duration_hours": 2.0,
                "target_energy_kwh": 6.0,
                "status": "completed",
                "priority": 1,
                "estimated_cost_pln": 2.4,
                "estimated_savings_pln": 1.1,
                "created_at": f"{day}T00:10:00",
                "started_at": None,
                "completed_at": None,
                "actual_energy_kwh": 5.8,
                "actual_cost_pln": 2.3,
            },
            {
                "session_id": f"{day:%Y%m%d}_2",
                "start_time": f"{day}T13:00:00",
                "end_time": f"{day}T14:30:00",
                "duration_hours": 1.5,
                "target_energy_kwh": "Unknown",
                "status": "planned",
                "priority": "low",
                "estimated_cost_pln": None,
                "estimated_savings_pln": 0.3,
                "created_at": f"{day}T00:10:00",
                "actual_energy_kwh": None,
                "actual_cost_pln": None,
            },
        ]
        plan = {
            "date": day.isoformat(),
            "total_sessions": 2,
            "total_duration_hours": 3.5,
            "total_estimated_energy_kwh": 6.0,
            "total_estimated_cost_pln": 2.4,
            "total_estimated_savings_pln": 1.4,
            "sessions": sessions,
            "created_at": f"{day}T00:10:00",
            "status": "active",
        }
        w.daily_plan(day, plan)
        corpus.planned += 2
    # selling session records (five in range, one before it)
    records = []
    for n, day in enumerate([days[0] - timedelta(days=3), *days[20:25]]):
        records.append(
            {
                "session_id": f"sell_{day:%Y%m%d}",
                "start_time": f"{day}T19:00:00",
                "end_time": f"{day}T20:00:00",
                "start_soc": 90,
                "end_soc": 60,
                "energy_sold_kwh": 3.0,
                "average_price_pln": 0.9,
                "revenue_pln": 2.7,
                "selling_power_w": 3000,
                "duration_hours": 1.0,
                "safety_checks_passed": True,
                "risk_level": "low",
            }
        )
        if n:
            corpus.selling += 1
    w.selling_records(records)
    # SQLite: coordinator decisions (3 per day, days 20-29), charging sessions, selling sessions
    for day in days[20:30]:
        for hour in (3, 11, 19):
            parameters = {
                "current_price_pln": 0.5 + hour / 100,
                "energy_kwh": 2.0,
                "estimated_cost_pln": 1.0,
                "battery_soc": 40,
            }
            database.decision(
                {
                    "timestamp": f"{day}T{hour:02d}:15:00.5",
                    "decision_type": "charging",
                    "action": "charge" if hour == 3 else "wait",
                    "reason": "cheap night price" if hour == 3 else "waiting",
                    "parameters": json.dumps(parameters),
                    "source_module": "master_coordinator",
                }
            )
            corpus.decisions += 1

    def charging(day: date, end: str, soc: int, energy, cost, price) -> dict:
        return {
            "session_id": f"{day:%Y%m%d}_1",
            "start_time": f"{day}T02:00:00",
            "end_time": f"{day}T{end}",
            "target_soc": soc,
            "energy_kwh": energy,
            "cost_pln": cost,
            "status": "completed",
            "avg_price": price,
        }

    for day in days[20:25]:
        database.charging_session(charging(day, "03:30:00", 90, None, None, None))
        corpus.planned += 1
    for same in days[15:16]:
        database.charging_session(charging(same, "04:00:00", 95, 6.1, 2.5, 0.41))

    def selling(session_id: str, day: date, start: str, end: str, kwh, revenue, price) -> dict:
        return {
            "session_id": session_id,
            "start_time": f"{day}T{start}",
            "end_time": f"{day}T{end}",
            "energy_sold_kwh": kwh,
            "revenue_pln": revenue,
            "avg_price": price,
            "status": "completed",
        }

    for day in days[20:22]:
        database.selling_session(
            selling(f"sell_{day:%Y%m%d}", day, "19:00:00", "20:00:00", 3.0, None, 0.9)
        )
    for day in days[26:27]:
        database.selling_session(
            selling(f"db_sell_{day:%Y%m%d}", day, "18:00:00", "18:45:00", 2.0, 1.9, 0.95)
        )
        corpus.selling += 1


def write_spring_corpus(root: Path, *, tz: str = "Europe/Warsaw") -> Corpus:
    """Three days around the spring DST change, with one reading stamped in the missing hour."""
    corpus = write_corpus(root, date(2025, 3, 29), 3, tz=tz)
    gap_day = date(2025, 3, 30)
    records = [
        {
            "timestamp": "2025-03-30T02:30:00",
            "battery_soc": 55.0,
            "pv_power": 0,
            "grid_power": -300,
            "house_consumption": 300,
            "battery_power": 0,
        }
    ]
    LegacyFolder(root, tz).daily_array(gap_day, records)
    corpus.gap_stamp = "2025-03-30T02:30:00"
    corpus.gap_day = gap_day
    return corpus


def write_big_file(root: Path, corpus: Corpus, day: date, megabytes: int = 50) -> Path:
    """A daily flat array of about ``megabytes`` MB: the day's records repeated (a runaway appender).

    The day's readings are all already in the corpus, so expected counts do not change.
    """
    zone = ZoneInfo(corpus.tz)
    truth = _truth(corpus.first, len(corpus.days), zone, 10)[corpus.days.index(day)]
    elements = [array_element(flat(t)) for t in truth if not t.invalid]
    block = len(",\n".join(elements))
    repeats = max(1, megabytes * 1_000_000 // (block + 2))
    return root / LegacyFolder(root, corpus.tz).daily_array(day, json_array(elements * repeats))


def folder_digest(root: Path) -> dict[str, tuple[int, float, str]]:
    """Every file under ``root``: size, mtime and SHA-256 (to prove the folder was not touched)."""
    digest = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            info = path.stat()
            digest[path.relative_to(root).as_posix()] = (
                info.st_size,
                info.st_mtime,
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
    return digest
