"""The files the optimiser wrote, recognised by name: their formats and the order they are read in.

Every format has a module that reads it: ``decode`` turns a file's bytes into raw records,
``records`` turns those into readings, ``snapshots`` skips what consecutive
``historical_data`` files repeat, and ``readers`` reads one file with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Format(StrEnum):
    HISTORICAL_DATA = "historical_data"
    COORDINATOR_STATE_LOG = "coordinator_state_log"
    ENERGY_DATA_DAILY = "energy_data_daily"
    OPTIMISER_DB = "optimiser_db"
    CURRENT_DATA = "current_data"
    ENERGY_DATA_SNAPSHOT = "energy_data_snapshot"
    COORDINATOR_STATE = "coordinator_state"
    DAILY_STATS = "daily_stats"
    CHARGING_DECISION = "charging_decision"
    CHARGING_DECISION_LOG = "charging_decision_log"
    SELLING_DECISION = "battery_selling_decision"
    SELLING_SESSIONS = "selling_session_records"
    DAILY_PLAN = "daily_plan"


READING_FORMATS: tuple[Format, ...] = (
    Format.HISTORICAL_DATA,
    Format.COORDINATOR_STATE_LOG,
    Format.ENERGY_DATA_DAILY,
    Format.OPTIMISER_DB,
    Format.CURRENT_DATA,
    Format.ENERGY_DATA_SNAPSHOT,
    Format.COORDINATOR_STATE,
)
"""In processing order: files whose readings come in sequences (DST context) and
with the most fields first; a reading repeated later only fills missing fields."""

DECISION_FORMATS: tuple[Format, ...] = (
    Format.CHARGING_DECISION,
    Format.CHARGING_DECISION_LOG,
    Format.SELLING_DECISION,
    Format.SELLING_SESSIONS,
    Format.DAILY_PLAN,
    Format.OPTIMISER_DB,
)

SINGLE_READING_FORMATS = frozenset(
    {Format.CURRENT_DATA, Format.ENERGY_DATA_SNAPSHOT, Format.COORDINATOR_STATE}
)

_STAMP = r"(?P<date>\d{8})_(?P<time>\d{6})"
_PATTERNS: tuple[tuple[Format, re.Pattern[str]], ...] = (
    (Format.HISTORICAL_DATA, re.compile(rf"historical_data_{_STAMP}\.json")),
    (Format.CURRENT_DATA, re.compile(rf"current_data_{_STAMP}\.json")),
    (Format.ENERGY_DATA_DAILY, re.compile(r"energy_data_(?P<iso>\d{4}-\d{2}-\d{2})\.json")),
    (Format.ENERGY_DATA_SNAPSHOT, re.compile(rf"energy_data_{_STAMP}\.json(?:\.gz)?")),
    (Format.COORDINATOR_STATE_LOG, re.compile(r"coordinator_state_(?P<date>\d{8})\.json")),
    (Format.COORDINATOR_STATE, re.compile(rf"coordinator_state_{_STAMP}\.json")),
    (Format.OPTIMISER_DB, re.compile(r"goodwe_energy\.db")),
    (Format.DAILY_STATS, re.compile(r"daily_stats_(?P<date>\d{8})\.json")),
    (Format.CHARGING_DECISION, re.compile(rf"charging_decision_{_STAMP}\.json")),
    (Format.CHARGING_DECISION_LOG, re.compile(r"charging_decision_(?P<date>\d{8})\.json")),
    (Format.SELLING_DECISION, re.compile(rf"battery_selling_decision_{_STAMP}\.json")),
    (Format.SELLING_SESSIONS, re.compile(r"session_records\.json")),
    (Format.DAILY_PLAN, re.compile(r"daily_plan_(?P<date>\d{8})\.json")),
)


@dataclass(frozen=True)
class Detected:
    format: Format
    name_time: datetime | None
    """Local wall-clock time in the file name (midnight for date-only names); None if absent or invalid."""


def detect(name: str) -> Detected | None:
    """The legacy format of a file, from its base name; None for anything else."""
    for fmt, pattern in _PATTERNS:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        groups = match.groupdict()
        text = groups.get("iso") or groups.get("date")
        moment = None
        if text:
            d = text.replace("-", "") + (groups.get("time") or "000000")
            try:
                moment = datetime(
                    int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]), int(d[12:])
                )
            except ValueError:
                moment = None
        return Detected(fmt, moment)
    return None
