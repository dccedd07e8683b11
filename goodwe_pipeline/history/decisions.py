"""The optimiser's decisions, plans and selling sessions as rows of the ``legacy_*`` tables.

These are what it *intended* (plans, decisions); measured sessions are derived
from readings elsewhere. Kept for planned-versus-actual comparison.

Row identities are deterministic so re-runs upsert the same rows:
``decision_id`` hashes the kind, time and content of a decision (the same
decision found in two places is one row); plans are keyed by plan date and
session id, selling sessions by session id. A session found both in a file and
in the SQLite database becomes one row, file values first, gaps filled from
the database.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from goodwe_pipeline.history.decode import file_text, load_json, parse_or_reason
from goodwe_pipeline.history.files import Unusable
from goodwe_pipeline.history.formats import Format
from goodwe_pipeline.history.mapping import to_number
from goodwe_pipeline.history.optimiser_db import has_table, rows_between
from goodwe_pipeline.history.records import file_reason
from goodwe_pipeline.history.timestamps import LocalClock, from_us

DECISIONS = "legacy_decisions"
PLANNED = "legacy_planned_sessions"
SELLING = "legacy_selling_sessions"
MAX_TEXT = 2000
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class DecisionRows:
    """Rows found in one source, already limited to the requested days."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)
    selling: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    first_us: int | None = None
    last_us: int | None = None

    @property
    def rows(self) -> int:
        return len(self.decisions) + len(self.planned) + len(self.selling)

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())

    def reason(self) -> str | None:
        return file_reason(self.error, self.rejections, bool(self.records), "records")

    def seen(self, utc_us: int) -> None:
        if self.first_us is None or utc_us < self.first_us:
            self.first_us = utc_us
        if self.last_us is None or utc_us > self.last_us:
            self.last_us = utc_us


@dataclass(frozen=True)
class Scope:
    """What to keep: local days ``first``..``last`` of ``clock``; rows carry ``device_id``."""

    clock: LocalClock
    first: date
    last: date
    device_id: str | None = None
    source_file: str | None = None
    hint_us: int | None = None
    name_time: datetime | None = None

    def day(self, utc_us: int) -> date:
        return self.clock.day_of(utc_us)

    def wanted(self, day: date) -> bool:
        return self.first <= day <= self.last


def json_safe(value: Any) -> Any:
    """A value PostgreSQL's JSONB and SQLite's JSON both accept (no NaN/inf, no bytes)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(json_safe(value), sort_keys=True)
    text = str(value).strip()
    return text[:MAX_TEXT] if text else None


def _number(record: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        if key in record:
            number = to_number(record[key])
            if number == number:
                return number
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    return None


def _identity(*parts: Any) -> str:
    text = json.dumps(json_safe(list(parts)), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:20]  # noqa: S324 - an identity, not security


UNPLACED = "repeated autumn hour: nothing in the file tells which occurrence"


def _moment(scope: Scope, stamps: list[object]) -> list[tuple[int | None, str | None]]:
    """UTC instants of a file's times, or why not. Decisions carry no lifetime counters, so a
    repeated-hour time its file does not place (``timestamps.unproven``) is rejected."""
    resolved, uncertain = scope.clock.resolve_placed(stamps, hint_us=scope.hint_us)
    return [
        (None, UNPLACED) if position in uncertain else (utc, reason)
        for position, (utc, reason, _, _) in enumerate(resolved)
    ]


def _name_stamp(scope: Scope) -> object:
    return scope.name_time.isoformat() if scope.name_time else None


def _first_present(record: Mapping[str, Any], *keys: str) -> object:
    for key in keys:
        if record.get(key) not in (None, ""):
            return record[key]
    return None


# -- decision files ------------------------------------------------------------------------


def read_decision_file(fmt: Format, data: bytes, scope: Scope) -> DecisionRows:
    """Rows from one decision, plan or selling-analytics file; never raises on bad input."""
    result = DecisionRows()

    def parse() -> list[Any]:
        text = file_text(data)
        if fmt is Format.CHARGING_DECISION_LOG:
            return _json_lines(text, result)
        document = load_json(text)
        return document if isinstance(document, list) else [document]

    records, reason = parse_or_reason(data, parse)
    if reason is not None:
        result.error = reason
        return result
    if fmt is Format.DAILY_PLAN:
        for plan in records:
            _plan_rows(plan, scope, result)
    elif fmt is Format.SELLING_SESSIONS:
        _selling_rows(records, scope, result, source="selling_analytics")
    else:
        kind = "selling" if fmt is Format.SELLING_DECISION else "charging"
        _decision_rows(records, kind, scope, result)
    return result


def _json_lines(text: bytes, result: DecisionRows) -> list[Any]:
    records: list[Any] = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(load_json(line))
        except Unusable as exc:
            result.records += 1
            result.rejections[f"line {number}: {exc}"] += 1
    if not records and result.rejections:
        raise Unusable(next(iter(result.rejections)))
    return records


def _decision_rows(records: list[Any], kind: str, scope: Scope, result: DecisionRows) -> None:
    stamps = [
        _first_present(r, "timestamp", "decision_time", "start_time") or _name_stamp(scope)
        if isinstance(r, Mapping)
        else None
        for r in records
    ]
    for record, (utc_us, reason) in zip(records, _moment(scope, stamps), strict=True):
        result.records += 1
        if not isinstance(record, Mapping):
            result.rejections["decision is not an object"] += 1
            continue
        if utc_us is None:
            result.rejections[reason or "no usable time"] += 1
            continue
        result.seen(utc_us)
        day = scope.day(utc_us)
        if not scope.wanted(day):
            continue
        result.decisions.append(_decision(record, kind, utc_us, day, scope, "file"))


def _decision(
    record: Mapping[str, Any],
    kind: str,
    utc_us: int,
    day: date,
    scope: Scope,
    source: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    fields = {**(extra or {}), **record}
    energy = _number(fields, "energy_kwh", "energy_sold_kwh", "target_energy_kwh")
    if energy is None:
        parts = [_number(fields, "pv_contribution_kwh"), _number(fields, "grid_contribution_kwh")]
        energy = (
            sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None
        )
    moment = from_us(utc_us)
    return {
        "decision_id": f"{kind}-{_identity(kind, moment.isoformat(), record)}",
        "device_id": scope.device_id,
        "decision_time": moment,
        "kind": kind,
        "action": _text(_first_present(fields, "action", "decision")),
        "reason": _text(_first_present(fields, "reason", "reasoning")),
        "price_pln_kwh": _number(fields, "current_price", "current_price_pln", "price_pln_kwh"),
        "battery_soc": _number(fields, "battery_soc", "current_soc"),
        "energy_kwh": energy,
        "estimated_cost_pln": _number(fields, "estimated_cost_pln"),
        "estimated_savings_pln": _number(fields, "estimated_savings_pln"),
        "expected_revenue_pln": _number(fields, "expected_revenue_pln"),
        "confidence": _number(fields, "confidence"),
        "details": json_safe(dict(record)),
        "source": source,
        "source_file": scope.source_file,
        "partition_date": day,
    }


def _session_time(value: Any, plan_day: date | None, scope: Scope) -> object:
    """Plan session times are ISO datetimes, or ``HH:MM`` on the plan's day."""
    if isinstance(value, str) and plan_day is not None and len(value.strip()) in (4, 5, 8):
        try:
            clock_time = time.fromisoformat(
                value.strip().zfill(5) if len(value.strip()) == 4 else value.strip()
            )
        except ValueError:
            return value
        return datetime.combine(plan_day, clock_time).isoformat()
    return value


def _plan_rows(plan: Any, scope: Scope, result: DecisionRows) -> None:
    if not isinstance(plan, Mapping):
        result.records += 1
        result.rejections["plan is not an object"] += 1
        return
    plan_day = _date(plan.get("date")) or (scope.name_time.date() if scope.name_time else None)
    if plan_day is None:
        result.records += 1
        result.rejections["plan has no date"] += 1
        return
    sessions = plan.get("sessions")
    if not isinstance(sessions, list):
        result.records += 1
        result.rejections["plan has no session list"] += 1
        return
    if not scope.wanted(plan_day):
        result.records += len(sessions)
        return
    totals = {k: v for k, v in plan.items() if k != "sessions"}
    stamps: list[object] = []
    for session in sessions:
        if isinstance(session, Mapping):
            stamps += [
                _session_time(session.get("start_time"), plan_day, scope),
                _session_time(session.get("end_time"), plan_day, scope),
            ]
        else:
            stamps += [None, None]
    moments = _moment(scope, stamps)
    for number, session in enumerate(sessions, start=1):
        result.records += 1
        if not isinstance(session, Mapping):
            result.rejections["plan session is not an object"] += 1
            continue
        (start_us, _), (end_us, _) = moments[2 * (number - 1)], moments[2 * (number - 1) + 1]
        if start_us is not None:
            result.seen(start_us)
        session_id = _text(session.get("session_id")) or f"{plan_day:%Y%m%d}_{number}"
        result.planned.append(
            {
                "plan_date": plan_day,
                "session_id": session_id,
                "start_time": from_us(start_us) if start_us is not None else None,
                "end_time": from_us(end_us) if end_us is not None else None,
                "duration_hours": _number(session, "duration_hours"),
                "target_energy_kwh": _number(session, "target_energy_kwh", "energy_kwh"),
                "target_soc": _number(session, "target_soc"),
                "status": _text(session.get("status")),
                "priority": _text(session.get("priority")),
                "estimated_cost_pln": _number(session, "estimated_cost_pln"),
                "estimated_savings_pln": _number(session, "estimated_savings_pln"),
                "avg_price_pln_kwh": _number(session, "avg_price_pln_kwh", "avg_price"),
                "actual_energy_kwh": _number(session, "actual_energy_kwh"),
                "actual_cost_pln": _number(session, "actual_cost_pln"),
                "details": json_safe({"session": dict(session), "plan": totals}),
                "source": "daily_plan",
                "source_file": scope.source_file,
            }
        )


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _selling_rows(records: list[Any], scope: Scope, result: DecisionRows, *, source: str) -> None:
    stamps: list[object] = []
    for record in records:
        ok = isinstance(record, Mapping)
        stamps += [record.get("start_time") if ok else None, record.get("end_time") if ok else None]
    moments = _moment(scope, stamps)
    for number, record in enumerate(records):
        result.records += 1
        if not isinstance(record, Mapping):
            result.rejections["session record is not an object"] += 1
            continue
        (start_us, reason), (end_us, _) = moments[2 * number], moments[2 * number + 1]
        if start_us is None:
            result.rejections[reason or "no start time"] += 1
            continue
        result.seen(start_us)
        day = scope.day(start_us)
        if not scope.wanted(day):
            continue
        session_id = _text(record.get("session_id")) or f"sell-{_identity(source, record)}"
        result.selling.append(
            {
                "session_id": session_id,
                "start_time": from_us(start_us),
                "end_time": from_us(end_us) if end_us is not None else None,
                "start_soc": _number(record, "start_soc"),
                "end_soc": _number(record, "end_soc"),
                "energy_sold_kwh": _number(record, "energy_sold_kwh"),
                "average_price_pln": _number(record, "average_price_pln", "avg_price"),
                "revenue_pln": _number(record, "revenue_pln"),
                "selling_power_w": _number(record, "selling_power_w"),
                "duration_hours": _number(record, "duration_hours"),
                "status": _text(record.get("status")) or ("completed" if end_us else None),
                "risk_level": _text(record.get("risk_level")),
                "safety_checks_passed": _bool(record.get("safety_checks_passed")),
                "source": source,
                "source_file": scope.source_file,
                "partition_date": day,
            }
        )


# -- the optimiser's database --------------------------------------------------------------


def read_database(connection: sqlite3.Connection, scope: Scope) -> DecisionRows:
    """``charging_sessions``, ``battery_selling_sessions`` and ``coordinator_decisions`` rows."""
    result = DecisionRows()
    try:
        if has_table(connection, "coordinator_decisions"):
            rows = rows_between(
                connection, "coordinator_decisions", "timestamp", scope.first, scope.last
            )
            _database_decisions(rows, scope, result)
        if has_table(connection, "charging_sessions"):
            rows = rows_between(
                connection, "charging_sessions", "start_time", scope.first, scope.last
            )
            _database_charging(rows, scope, result)
        if has_table(connection, "battery_selling_sessions"):
            rows = rows_between(
                connection, "battery_selling_sessions", "start_time", scope.first, scope.last
            )
            _selling_rows(rows, scope, result, source="optimiser_db")
    except (Unusable, sqlite3.Error) as exc:
        result.error = str(exc)
    return result


def _database_decisions(rows: list[dict[str, Any]], scope: Scope, result: DecisionRows) -> None:
    moments = _moment(scope, [row.get("timestamp") for row in rows])
    for row, (utc_us, reason) in zip(rows, moments, strict=True):
        result.records += 1
        if utc_us is None:
            result.rejections[reason or "no usable time"] += 1
            continue
        result.seen(utc_us)
        day = scope.day(utc_us)
        if not scope.wanted(day):
            continue
        parameters = row.get("parameters")
        try:
            parsed = json.loads(parameters) if isinstance(parameters, str) and parameters else {}
        except ValueError:
            parsed = {"unparsed": parameters}
        if not isinstance(parsed, dict):
            parsed = {"value": parsed}
        kind = _text(row.get("decision_type")) or "coordinator"
        record = {k: v for k, v in row.items() if k != "parameters"}
        record["parameters"] = parsed
        decision = _decision(record, kind, utc_us, day, scope, "optimiser_db", extra=parsed)
        result.decisions.append(decision)


def _database_charging(rows: list[dict[str, Any]], scope: Scope, result: DecisionRows) -> None:
    stamps: list[object] = []
    for row in rows:
        stamps += [row.get("start_time"), row.get("end_time")]
    moments = _moment(scope, stamps)
    for number, row in enumerate(rows):
        result.records += 1
        (start_us, reason), (end_us, _) = moments[2 * number], moments[2 * number + 1]
        session_id = _text(row.get("session_id"))
        if start_us is None or session_id is None:
            result.rejections[reason or "no session id"] += 1
            continue
        result.seen(start_us)
        day = scope.day(start_us)
        if not scope.wanted(day):
            continue
        result.planned.append(
            {
                "plan_date": day,
                "session_id": session_id,
                "start_time": from_us(start_us),
                "end_time": from_us(end_us) if end_us is not None else None,
                "duration_hours": ((end_us - start_us) / 3.6e9) if end_us is not None else None,
                "target_energy_kwh": _number(row, "energy_kwh"),
                "target_soc": _number(row, "target_soc"),
                "status": _text(row.get("status")),
                "priority": None,
                "estimated_cost_pln": _number(row, "cost_pln"),
                "estimated_savings_pln": None,
                "avg_price_pln_kwh": _number(row, "avg_price"),
                "actual_energy_kwh": None,
                "actual_cost_pln": None,
                "details": json_safe(row),
                "source": "optimiser_db",
                "source_file": scope.source_file,
            }
        )


def storable(value: Any) -> Any:
    """``value`` as every warehouse can store it: in text (also inside JSON values and keys),
    NUL characters removed (PostgreSQL text cannot hold them) and lone surrogates (halves of
    a UTF-16 pair, not text) replaced by U+FFFD."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = _SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def merge_rows(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per key (text made ``storable``): the first row's values, its missing values
    filled from later rows."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in (storable(r) for r in rows):
        key = tuple(row[k] for k in keys)
        existing = merged.get(key)
        if existing is None:
            merged[key] = dict(row)
            continue
        for column, value in row.items():
            if existing.get(column) is None and value is not None:
                existing[column] = value
    return list(merged.values())
