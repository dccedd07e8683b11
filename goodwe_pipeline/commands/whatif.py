"""``goodwe-pipeline whatif --start D --end D [--offers G11,G12w] [--csv FILE]``: the tariff
what-if of a date range, computed from the stores and printed (nothing is written to the
warehouse; the ``tariff_comparison`` asset stores the same rows)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from goodwe_pipeline.commands._range import RangeError, add_date_range, date_range
from goodwe_pipeline.commands.export import write_csv
from goodwe_pipeline.common import days, settings
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.prices.tariffs import TariffError, load_tariff
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.raw_store.base import StoreUnavailableError
from goodwe_pipeline.reports.quality import DEFAULT_RATED_POWER_W, Limits
from goodwe_pipeline.warehouse import Warehouse, WarehouseUnavailableError
from goodwe_pipeline.whatif.catalogue import CatalogueError, load_catalogue
from goodwe_pipeline.whatif.costs import SCENARIOS
from goodwe_pipeline.whatif.from_stores import read_what_if_frames
from goodwe_pipeline.whatif.history import what_if

HELP = (
    "Compare tariff offers on your own history: as measured, without and with the battery run best."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_date_range(parser)
    parser.add_argument(
        "--offers",
        help="comma-separated offer names of the catalogue (default: all); the current "
        "offer is always included",
    )
    parser.add_argument("--csv", type=Path, help="also write every day's rows to this CSV file")


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per device and offer: the range's cost (PLN, fees included) in each case and the
    battery's value (without it minus run best)."""
    table = rows.pivot_table(
        index=["device_id", "offer"], columns="scenario", values="total_cost_pln", aggfunc="sum"
    )
    table = table.reindex(columns=list(SCENARIOS))
    table["battery_value"] = table["without_battery"] - table["best_battery"]
    days_compared = rows.groupby(["device_id", "offer"])["day"].nunique()
    table.insert(0, "days", days_compared)
    table = table.round(2).reset_index().rename(columns={"device_id": "device"})
    return table.astype({"days": int})


def run(args: argparse.Namespace) -> int:
    try:
        start, end = date_range(args)
    except RangeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tz = settings.timezone()
    try:
        owner = load_tariff(settings.env("GOODWE_TARIFF_FILE"))
        catalogue = load_catalogue(settings.env("GOODWE_TARIFF_CATALOGUE"), owner)
        if args.offers:
            catalogue = catalogue.select([n.strip() for n in args.offers.split(",") if n.strip()])
        limits = Limits(
            rated_power_w=settings.positive_number("GOODWE_RATED_POWER_W", DEFAULT_RATED_POWER_W)
        )
    except (TariffError, CatalogueError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_days = list(days.iter_days(start, end))
    now = datetime.now(UTC)
    try:
        with (
            open_raw_store(RawStoreSettings.from_env()) as raw_store,
            Warehouse.from_settings(WarehouseSettings.from_env()) as warehouse,
        ):
            found = what_if(
                *read_what_if_frames(raw_store, warehouse, run_days, tz, now),
                run_days,
                tz,
                catalogue,
                owner,
                now=now,
                limits=limits,
            )
    except (WarehouseUnavailableError, StoreUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = found.comparison.rows
    print(f"offers: {', '.join(catalogue.names)} (current: {catalogue.current.name})")
    for device, limit in found.limits.items():
        shown = {k: v for k, v in limit.as_dict().items() if k != "sources"}
        print(f"battery of {device}: {json.dumps(shown)}")
    if rows.empty:
        print("no day could be compared")
    else:
        print(summary_table(rows).to_markdown(index=False, floatfmt=".2f"))
    for device, day, reason in found.comparison.skipped:
        print(f"skipped {day}{f' {device}' if device else ''}: {reason}")
    if args.csv:
        out = rows.copy()
        out["zones"] = [json.dumps(z, sort_keys=True) for z in out["zones"]]
        write_csv(out, args.csv)
        print(f"{len(out)} rows -> {args.csv}")
    return 0
