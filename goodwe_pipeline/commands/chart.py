"""``goodwe-pipeline chart --day D | --month M [--out file.png]``: the UI's charts as PNG files.

Reads the stores the environment names (like ``export``) and draws with the same code as
the Dagster assets: a day's flows (or its sessions, or its prices) from the raw readings,
the prices and the sessions; a month as the last 30 and 90 days of daily reports to its
last day.
"""

from __future__ import annotations

import argparse
import calendar
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from goodwe_pipeline.charts.day import day_figure, day_series
from goodwe_pipeline.charts.prices import price_series, prices_figure
from goodwe_pipeline.charts.render import png_bytes
from goodwe_pipeline.charts.sessions import session_bars, sessions_figure
from goodwe_pipeline.charts.trends import PANELS, trend_bars, trends_figure
from goodwe_pipeline.commands._stores import secret_values
from goodwe_pipeline.common import days, settings
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.health import checkup
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.readings import DEVICE_ID, TIME
from goodwe_pipeline.reports.daily import READ_MARGIN, READING_FIELDS, daily_energy, readings_window
from goodwe_pipeline.sessions.detection import planned_vs_actual
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline.warehouse.reads import (
    read_daily,
    read_planned_sessions,
    read_prices,
    read_sessions,
)

HELP = "Draw a day's or a month's chart as a PNG file (the pictures the Dagster UI shows)."
KINDS = ("day", "sessions", "prices")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-30") from None


def _month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2025-06") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--day", type=_day, help="a day (YYYY-MM-DD)")
    which.add_argument("--month", type=_month, help="a month (YYYY-MM): 30 and 90 days to its end")
    parser.add_argument(
        "--kind", choices=KINDS, default="day", help="for --day: flows (default), sessions, prices"
    )
    parser.add_argument("--device", help="inverter serial (default: the day's first)")
    parser.add_argument("--out", type=Path, help="PNG file (default: chart-<day or month>.png)")


def run(args: argparse.Namespace) -> int:
    tz = settings.timezone()
    try:
        if args.day is not None:
            name = f"{args.day.isoformat()}{'' if args.kind == 'day' else '-' + args.kind}"
            figure = _day_chart(args.day, args.kind, args.device, tz)
        else:
            name = args.month.strftime("%Y-%m")
            figure = _month_chart(args.month, tz)
        data = png_bytes(figure)
    except (LookupError, ValueError, OSError) as exc:
        print(f"error: {checkup.mask(str(exc), secret_values())}", file=sys.stderr)
        return 1
    out = args.out or Path(f"chart-{name}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"{out} ({len(data)} bytes)")
    return 0


def _day_chart(day: date, kind: str, device: str | None, tz: str):
    start, end = days.day_window(day, tz)
    with Warehouse.from_settings(WarehouseSettings.from_env()) as warehouse:
        prices = read_prices(warehouse, start - READ_MARGIN, end + READ_MARGIN)
        if kind == "prices":
            return prices_figure(price_series(prices, day, tz))
        sessions = read_sessions(warehouse, day, day)
        plans = read_planned_sessions(warehouse, day, day)
    if kind == "sessions":
        devices = sorted(sessions[DEVICE_ID].unique())
        chosen = device or (devices[0] if devices else "")
        mine = sessions[sessions[DEVICE_ID] == chosen]
        label = chosen if len(devices) > 1 else ""
        return sessions_figure(
            session_bars(mine, planned_vs_actual(plans, mine), day, tz, label=label)
        )
    now = datetime.now(UTC)
    with open_raw_store(RawStoreSettings.from_env()) as raw_store:
        readings = raw_store.read(*readings_window(day, day, tz, now), fields=READING_FIELDS)
    result = daily_energy(readings, prices, [day], tz, now=now)
    rows = result.days
    if rows.empty:
        raise LookupError(f"no readings for {day} in the raw store")
    chosen = device or str(rows[DEVICE_ID].iloc[0])
    picked = rows[rows[DEVICE_ID] == chosen]
    if picked.empty:
        raise LookupError(f"no readings of device {chosen} on {day}")
    quarters = result.quarters[result.quarters[DEVICE_ID] == chosen]
    mine = readings[readings[DEVICE_ID] == chosen]
    soc = pd.Series(mine["battery_soc_pct"].to_numpy(), index=pd.DatetimeIndex(mine[TIME]))
    of_day = sessions[sessions[DEVICE_ID] == chosen]
    figures = picked.iloc[0].to_dict()
    label = chosen if rows[DEVICE_ID].nunique() > 1 else ""
    return day_figure(day_series(quarters, soc, of_day, figures, day, tz, label=label))


def _month_chart(month: date, tz: str):
    last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    today = days.local_date(datetime.now(UTC), tz)
    end = min(last, today)
    with Warehouse.from_settings(WarehouseSettings.from_env()) as warehouse:
        daily = read_daily(warehouse, end - timedelta(days=max(PANELS) - 1), end)
    if daily.empty:
        raise LookupError(f"no daily reports in the {max(PANELS)} days to {end}")
    return trends_figure(trend_bars(daily, end))
