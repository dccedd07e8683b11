"""Benchmark: peak memory (RSS) of a legacy migration given one very large file.

Each case migrates one day of a small legacy folder (a daily array of 144 real
readings) to which one large daily array is added, in a fresh child process, and
prints the child's peak RSS:

(0) floor: the small folder alone (interpreter, libraries, one day's readings);
(1) the issue's case: a 200 MB daily array of plain numbers (100 M values). It is
    under the 256 MB file-size limit but holds more JSON values than the
    per-file bound (``decode.MAX_JSON_VALUES``), so it is refused before parsing;
(2) a daily array just under that bound of plain numbers (the most values a file
    may hold, each a rejected record): the worst file that is parsed;
(3) a 50 MB daily array of real records repeated (a runaway appender), parsed and
    migrated as duplicates;
(4) the same at 140 MB, just under the value bound: the worst file of real records.

Prints each peak and its excess over (0), in MB. No assertion: the figures are for
``docs/migration.md``.

    .venv/bin/python bench/migration_memory.py [--megabytes 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TZ = "Europe/Warsaw"
DAY = date(2025, 9, 18)


def small_folder(root: Path) -> Path:
    from goodwe_pipeline_tests.legacy_corpus import flat, reading_at

    energy = root / "out" / "energy_data"
    energy.mkdir(parents=True)
    records = [
        flat(reading_at(f"{DAY}T{h:02d}:{m:02d}:00")) for h in range(24) for m in range(0, 60, 10)
    ]
    (energy / f"energy_data_{DAY}.json").write_text(json.dumps(records, indent=2))
    return energy


def write_numbers(path: Path, count: int) -> None:
    """A JSON array of ``count`` plain numbers, written in chunks (never whole in memory)."""
    chunk = ",".join(["1"] * 1_000_000)
    with path.open("w") as handle:
        handle.write("[")
        written = 0
        while written < count:
            n = min(1_000_000, count - written)
            handle.write(
                ("," if written else "") + (chunk if n == 1_000_000 else chunk[: 2 * n - 1])
            )
            written += n
        handle.write("]")


def write_records(path: Path, megabytes: int) -> None:
    from goodwe_pipeline_tests.legacy_corpus import flat, reading_at

    block = ",\n".join(
        "  " + json.dumps(flat(reading_at(f"{DAY}T{h:02d}:00:00")), indent=2).replace("\n", "\n  ")
        for h in range(24)
    )
    repeats = megabytes * 1_000_000 // (len(block) + 2)
    with path.open("w") as handle:
        handle.write("[\n" + ",\n".join([block] * repeats) + "\n]")


def child(folder: str, data: str) -> None:
    from goodwe_pipeline.history.readings_migration import migrate_readings
    from goodwe_pipeline.history.settings import LegacySettings
    from goodwe_pipeline.raw_store import open_raw_store
    from goodwe_pipeline.warehouse import Warehouse

    store = open_raw_store(RawStoreSettings(data_dir=Path(data)))
    warehouse = Warehouse.from_settings(WarehouseSettings(data_dir=Path(data)))
    try:
        result = migrate_readings(
            LegacySettings(Path(folder), timezone=TZ), store, warehouse, DAY, DAY
        )
    finally:
        warehouse.dispose()
    rejected = [f"{e.path}: {e.reason}" for e in result.rejected_files()]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"peak_mb": peak_mb, "written": result.readings_written, "rejected": rejected})
    )


def measure(name: str, build) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "optimiser"
        energy = small_folder(root)
        build(energy)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root), str(Path(folder) / "data")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    print(f"{name}: peak RSS {figures['peak_mb']:.0f} MB, {figures['written']} readings written")
    for line in figures["rejected"]:
        print(f"    rejected {line}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from goodwe_pipeline.history.decode import MAX_JSON_VALUES

    big = f"energy_data_{DAY}.json"
    floor = measure("(0) floor", lambda energy: None)
    cases = [
        measure(
            f"(1) {args.megabytes} MB of plain numbers",
            lambda e: (
                write_numbers(e / "sub" / big, args.megabytes * 500_000)
                if (e / "sub").mkdir() is None
                else None
            ),
        ),
        measure(
            f"(2) {MAX_JSON_VALUES - 1:,} plain numbers (parsed)",
            lambda e: (
                write_numbers(e / "sub" / big, MAX_JSON_VALUES - 1)
                if (e / "sub").mkdir() is None
                else None
            ),
        ),
        measure(
            "(3) 50 MB of real records",
            lambda e: write_records(e / "sub" / big, 50) if (e / "sub").mkdir() is None else None,
        ),
        measure(
            "(4) 140 MB of real records (about 7.5 M values, near the bound)",
            lambda e: write_records(e / "sub" / big, 140) if (e / "sub").mkdir() is None else None,
        ),
    ]
    for number, figures in enumerate(cases, start=1):
        print(f"({number}) exceeds the floor by {figures['peak_mb'] - floor['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
