"""``goodwe-pipeline export --start D --end D --out DIR``: sessions and daily reports as CSV."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

import pandas as pd

from goodwe_pipeline.commands._range import RangeError, add_date_range, date_range
from goodwe_pipeline.common import settings
from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.readings import DEVICE_ID
from goodwe_pipeline.warehouse import Warehouse, WarehouseUnavailableError
from goodwe_pipeline.warehouse.reads import read_daily, read_sessions

HELP = "Write battery sessions and daily energy reports of a date range as CSV files."

SESSIONS_FILE = "battery_sessions.csv"
DAILY_FILE = "daily_energy.csv"
TIME_COLUMNS = ("start_time", "end_time", "updated_at")
PRECISION = (
    ("_pln_kwh", 4),
    ("_kwh", 3),
    ("_pln", 2),
    ("_pct", 1),
    ("soc_start", 1),
    ("soc_end", 1),
    ("soc_min", 1),
    ("soc_max", 1),
    ("_w", 0),
    ("_s", 0),
)
"""Decimals per column-name suffix, first match wins: prices 4 (PLN/kWh), energies 3 (kWh),
money 2 (PLN), percentages and battery charge 1, powers and durations 0."""
EPILOG = (
    "Days are local days in GOODWE_TIMEZONE; times in the CSV are local with their UTC "
    "offset. Numbers are rounded: kWh 3 decimals, PLN 2, PLN/kWh 4, % 1, W and s 0. Exit "
    "status: 0 written, 1 no warehouse, nothing in the range, or the warehouse unreachable "
    "(no file written), 2 a bad or missing range."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_date_range(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    parser.add_argument("--device", help="only this inverter serial")


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers at their units' precision (``PRECISION``, by column-name suffix)."""
    out = frame.copy()
    for column in out.columns:
        digits = next((d for suffix, d in PRECISION if column.endswith(suffix)), None)
        if digits is not None and pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].round(digits)
    return out


def _local_times(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Timestamps as local ISO 8601 with their UTC offset (unambiguous, readable)."""
    out = frame.copy()
    for column in TIME_COLUMNS:
        if column in out and len(out):
            times = pd.to_datetime(out[column], utc=True).dt.tz_convert(tz)
            out[column] = times.map(lambda t: t.isoformat() if pd.notna(t) else "")
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically: a reader sees the old file or the complete new one."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.to_csv(temporary, index=False)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    try:
        start, end = date_range(args)
    except RangeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = WarehouseSettings.from_env()
    sqlite = where.sqlite_path
    if not where.url and not sqlite.is_file():
        print(
            f"error: no warehouse at {sqlite.absolute()}: nothing to export (set "
            "GOODWE_DATA_DIR, or GOODWE_WAREHOUSE_URL, to where the pipeline writes)",
            file=sys.stderr,
        )
        return 1
    tz = settings.timezone()
    try:
        with Warehouse.from_settings(where) as warehouse:
            sessions = read_sessions(warehouse, start, end)
            daily = read_daily(warehouse, start, end)
    except WarehouseUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.device:
        sessions = sessions[sessions[DEVICE_ID] == args.device]
        daily = daily[daily[DEVICE_ID] == args.device]
    if sessions.empty and daily.empty:
        device = f" for device {args.device}" if args.device else ""
        print(
            f"error: no battery sessions and no daily reports from {start} to {end}{device} "
            "in the warehouse: nothing written (backfill those days first, see docs/backfill.md)",
            file=sys.stderr,
        )
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rounded(_local_times(sessions, tz)), args.out / SESSIONS_FILE)
    write_csv(rounded(_local_times(daily, tz)), args.out / DAILY_FILE)
    print(f"{len(sessions)} battery sessions -> {args.out / SESSIONS_FILE}")
    print(f"{len(daily)} daily reports -> {args.out / DAILY_FILE}")
    return 0
