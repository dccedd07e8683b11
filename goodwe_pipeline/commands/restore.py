"""``goodwe-pipeline restore START END``: write archived days back into the raw store."""

from __future__ import annotations

import argparse
import sys

from goodwe_pipeline import settings
from goodwe_pipeline.archive import Archive, archive_root, restore
from goodwe_pipeline.commands._stores import raw_store_from_env
from goodwe_pipeline.commands.export import _day
from goodwe_pipeline.raw_store import StoreUnavailableError

HELP = "Write archived days (GOODWE_DATA_DIR/archive) back into the raw store; safe to repeat."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("start", type=_day, help="first day (YYYY-MM-DD)")
    parser.add_argument("end", type=_day, help="last day, inclusive")


def run(args: argparse.Namespace) -> int:
    if args.end < args.start:
        print(f"error: {args.end} is before {args.start}", file=sys.stderr)
        return 2
    archive = Archive(archive_root(settings.data_dir()))
    if not archive.days(args.start, args.end):
        print(
            f"error: nothing archived from {args.start} to {args.end} in {archive.root}",
            file=sys.stderr,
        )
        return 1
    store = raw_store_from_env(create_database=True)
    try:
        restored = restore(store, archive, args.start, args.end)
    except StoreUnavailableError as exc:
        print(f"error: {exc}; nothing is lost, run the restore again later", file=sys.stderr)
        return 1
    for day in restored:
        print(f"{day.day}: {day.rows} readings from {day.files} files")
    total = sum(day.rows for day in restored)
    print(f"restored {total} readings of {len(restored)} days into {store.url}")
    return 0
