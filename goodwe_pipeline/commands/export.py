"""``goodwe-pipeline export --start D --end D --out DIR``: sessions and daily reports as CSV."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from goodwe_pipeline import settings
from goodwe_pipeline.commands._stores import warehouse_from_env
from goodwe_pipeline.warehouse import WarehouseUnavailableError, schema

HELP = "Write battery sessions and daily energy reports of a date range as CSV files."

SESSIONS_FILE = "battery_sessions.csv"
DAILY_FILE = "daily_energy.csv"
TIME_COLUMNS = ("start_time", "end_time", "updated_at")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-30") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=_day, required=True, help="first day (YYYY-MM-DD)")
    parser.add_argument("--end", type=_day, required=True, help="last day, inclusive")
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    parser.add_argument("--device", help="only this inverter serial")


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
    if args.end < args.start:
        print(f"error: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    tz = settings.timezone()
    sessions_query = sa.select(schema.battery_sessions).where(
        schema.battery_sessions.c.partition_date.between(args.start, args.end)
    )
    daily_query = sa.select(schema.daily_energy).where(
        schema.daily_energy.c.day.between(args.start, args.end)
    )
    if args.device:
        sessions_query = sessions_query.where(schema.battery_sessions.c.device_id == args.device)
        daily_query = daily_query.where(schema.daily_energy.c.device_id == args.device)
    warehouse = warehouse_from_env()
    try:
        sessions = warehouse.read_frame(
            sessions_query.order_by(
                schema.battery_sessions.c.start_time, schema.battery_sessions.c.device_id
            )
        )
        daily = warehouse.read_frame(
            daily_query.order_by(schema.daily_energy.c.day, schema.daily_energy.c.device_id)
        )
    except WarehouseUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        warehouse.dispose()
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(_local_times(sessions, tz), args.out / SESSIONS_FILE)
    write_csv(_local_times(daily, tz), args.out / DAILY_FILE)
    print(f"{len(sessions)} battery sessions -> {args.out / SESSIONS_FILE}")
    print(f"{len(daily)} daily reports -> {args.out / DAILY_FILE}")
    return 0
