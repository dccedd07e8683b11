"""``goodwe-pipeline restore --start D --end D``: write archived days back into the raw store."""

from __future__ import annotations

import argparse
import sys

from goodwe_pipeline.archive.daily_files import Archive, archive_root, restore
from goodwe_pipeline.commands._range import RangeError, add_date_range, date_range
from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.raw_store import StoreUnavailableError, open_raw_store

HELP = "Write archived days (GOODWE_DATA_DIR/archive) back into the raw store; safe to repeat."
EPILOG = (
    "Days are local days in GOODWE_TIMEZONE. `restore START END` (positional) still works. "
    "Exit status: 0 restored, 1 nothing archived in the range or the store unreachable "
    "(nothing is lost; run it again), 2 a bad or missing range."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_date_range(parser, positional_alias=True)


def run(args: argparse.Namespace) -> int:
    try:
        start, end = date_range(args)
    except RangeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store_settings = RawStoreSettings.from_env(create_database=True)
    archive = Archive(archive_root(store_settings.data_dir))
    if not archive.days(start, end):
        print(f"error: nothing archived from {start} to {end} in {archive.root}", file=sys.stderr)
        return 1
    try:
        with open_raw_store(store_settings) as raw_store:
            restored = restore(raw_store, archive, start, end)
    except StoreUnavailableError as exc:
        print(f"error: {exc}; nothing is lost, run the restore again later", file=sys.stderr)
        return 1
    for day in restored:
        print(f"{day.day}: {day.rows} readings from {day.files} files")
    total = sum(day.rows for day in restored)
    print(f"restored {total} readings of {len(restored)} days into {raw_store.url}")
    return 0
