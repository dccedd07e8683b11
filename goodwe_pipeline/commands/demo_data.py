"""``goodwe-pipeline demo-data``: sample optimiser history and prices to migrate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from goodwe_pipeline.common import days
from goodwe_pipeline.demo.history import DEFAULT_DAYS, DEFAULT_SEED, write_demo_history

HELP = (
    "Write sample legacy optimiser history (every format, a few broken files) and a matching "
    "quarter-hour price CSV."
)
DEFAULT_DIR = Path("./data/demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help="where to write: DIR/optimiser (the optimiser's working directory, for "
        "GOODWE_LEGACY_DIR), DIR/prices.csv (for GOODWE_PRICE_SOURCE=csv:...), DIR/manifest.json",
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of history")
    parser.add_argument(
        "--end",
        type=days.parse_day,
        help="last day of history, YYYY-MM-DD (default yesterday in GOODWE_TIMEZONE)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same files")


def run(args: argparse.Namespace) -> int:
    try:
        manifest = write_demo_history(args.dir, end=args.end, days_count=args.days, seed=args.seed)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = sum(manifest.files.values())
    print(
        f"wrote {files} legacy files with {manifest.expected_readings} readings of "
        f"{manifest.device_id} ({manifest.first_day} .. {manifest.last_day}, "
        f"{manifest.timezone}) to {manifest.legacy_dir}"
    )
    for broken in manifest.broken_files:
        print(f"  broken on purpose: {broken['path']} ({broken['problem']})")
    print(f"prices for {manifest.price_days[0]} .. {manifest.price_days[-1]}: {manifest.price_csv}")
    print(
        f"to migrate it: GOODWE_LEGACY_DIR={manifest.legacy_dir} "
        f"GOODWE_PRICE_SOURCE=csv:{manifest.price_csv}"
    )
    return 0
