"""Benchmark: migrating 30 days of optimiser history into a local InfluxDB.

Generates 30 days at one reading a minute in the files the optimiser really
wrote: ``current_data_*`` (every 5 minutes), ``historical_data_*`` (the last
100 readings, every 5 minutes, ``json.dump(indent=2)``), ``daily_stats_*``, and
for the last 10 days also the daily flat arrays and the SQLite database of later
versions. Then times, against one ``influxd`` started for the run:

(a) our 30-day backfill: ``legacy_readings`` materialized over the 30 partitions
    in one run (``dg.materialize`` with the partition-range tags), InfluxDB raw
    store, SQLite warehouse;
(b) the old roadmap's approach: read every file, one synchronous HTTP write per
    reading. Timed on a sample (``--sample`` readings, 2,000 by default) and
    extrapolated to all readings in all files: a full run takes many minutes;
(c) the floor: POST the final deduplicated line protocol in 5,000-line batches
    (line protocol prepared beforehand, only the POSTs timed);
(d) for scale: only opening the files and decoding their records, the least any
    migration of the folder must do before it converts, checks or writes anything.

Prints readings/s, the split of (a) (index, parse, normalise, write) and the
ratios against the targets (a) >= 50x faster than (b), (a) <= 3x (c).

    .venv/bin/python bench/migration.py [--days 30] [--sample 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goodwe_pipeline import days as local_days  # noqa: E402
from goodwe_pipeline.legacy.formats import detect  # noqa: E402
from goodwe_pipeline.readings import FIELD_NAMES, MEASUREMENT, SOURCE, SOURCE_LEGACY, TIME  # noqa: E402
from goodwe_pipeline_tests.legacy_corpus import _truth, flat, nested  # noqa: E402
from goodwe_pipeline_tests.servers import InfluxServer  # noqa: E402

TZ = "Europe/Warsaw"
FIRST = date(2025, 10, 10)
BATCH_LINES = 5_000


def generate(root: Path, count: int) -> dict[str, int]:
    """Write the legacy folder; return how many files and reading copies it holds."""
    zone = ZoneInfo(TZ)
    energy = root / "out" / "energy_data"
    energy.mkdir(parents=True)
    (root / "data").mkdir()
    per_day = _truth(FIRST, count, zone, 1)
    readings = [t for day in per_day for t in day]
    top = [json.dumps(nested(t), indent=2, ensure_ascii=False) for t in readings]
    elements = ["  " + text.replace("\n", "\n  ") for text in top]
    stats = {"files": 0, "reading_copies": 0}

    def write(path: Path, text: str, moment) -> None:
        path.write_text(text, encoding="utf-8")
        os.utime(path, (moment.timestamp(), moment.timestamp()))
        stats["files"] += 1

    sample = [nested(t) for t in readings[:3]]
    assert "[\n" + ",\n".join(elements[:3]) + "\n]" == json.dumps(
        sample, indent=2, ensure_ascii=False
    )
    for index, t in enumerate(readings):
        if t.local.minute % 5:
            continue
        written = t.utc + timedelta(seconds=1)
        stamp = written.astimezone(zone).strftime("%Y%m%d_%H%M%S")
        write(energy / f"current_data_{stamp}.json", top[index], written)
        window = elements[max(0, index - 99) : index + 1]
        write(energy / f"historical_data_{stamp}.json", "[\n" + ",\n".join(window) + "\n]", written)
        stats["reading_copies"] += 1 + len(window)
    for position, readings_of_day in enumerate(per_day):
        day = FIRST + timedelta(days=position)
        pv = sum(t.values["pv"] for t in readings_of_day) / 60 / 1000
        load = sum(t.values["load"] for t in readings_of_day) / 60 / 1000
        daily = {"date": day.isoformat(), "pv_production": {"total_kwh": pv},
                 "house_consumption": {"total_kwh": load}}  # fmt: skip
        (energy / f"daily_stats_{day:%Y%m%d}.json").write_text(json.dumps(daily, indent=2))
        stats["files"] += 1
    later = per_day[-10:]
    connection = sqlite3.connect(root / "data" / "goodwe_energy.db")
    connection.execute("PRAGMA journal_mode=WAL")
    columns = list(flat(later[0][0]).keys())
    connection.execute(f"CREATE TABLE energy_data ({', '.join(columns)}, PRIMARY KEY (timestamp))")
    for readings_of_day in later:
        day = readings_of_day[0].local.date()
        records = [flat(t) for t in readings_of_day]
        (energy / f"energy_data_{day.isoformat()}.json").write_text(json.dumps(records, indent=2))
        placeholders = ", ".join("?" * len(columns))
        connection.executemany(
            f"INSERT INTO energy_data VALUES ({placeholders})",  # noqa: S608 - fixed columns
            [[r[c] for c in columns] for r in records],
        )
        stats["files"] += 1
        stats["reading_copies"] += 2 * len(records)
    connection.commit()
    connection.close()
    stats["files"] += 1
    stats["readings"] = len(readings)
    return stats


def run_ours(legacy: Path, data: Path, server: InfluxServer, count: int) -> tuple[float, dict]:
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    from goodwe_pipeline.defs.history.assets import legacy_readings
    from goodwe_pipeline.defs.history.resources import LegacyResource
    from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource

    last = FIRST + timedelta(days=count - 1)
    started = time.perf_counter()
    result = dg.materialize(
        [legacy_readings],
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "legacy": LegacyResource(legacy_dir=str(legacy), timezone=TZ),
            "raw_store": RawStoreResource(
                data_dir=str(data), influx_url=server.url, influx_db="ours"
            ),
            "warehouse": WarehouseResource(data_dir=str(data)),
        },
        tags={
            "dagster/asset_partition_range_start": FIRST.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    elapsed = time.perf_counter() - started
    assert result.success
    metadata = result.asset_materializations_for_node("legacy_readings")[0].metadata
    return elapsed, {key: value.value for key, value in metadata.items()}


def _line(reading: dict, device: str) -> str:
    """One line of protocol, written by hand as the old roadmap did."""
    fields = ",".join(
        f"{name}={value}"
        for name, value in reading.items()
        if isinstance(value, float) and math.isfinite(value)
    )
    return f"{MEASUREMENT},device_id={device},source={SOURCE_LEGACY} {fields}"


def run_roadmap_sample(legacy: Path, server: InfluxServer, sample: int) -> tuple[float, int]:
    """Read files in order and POST each reading on its own until ``sample`` readings went out."""
    server.query('CREATE DATABASE "roadmap"')
    url = f"{server.url}/write?db=roadmap&precision=s"
    sent = 0
    started = time.perf_counter()
    files = []
    for path in (legacy / "out" / "energy_data").iterdir():
        detected = detect(path.name)
        if detected and detected.format.value in ("current_data", "historical_data"):
            files.append((detected.name_time, path.name, path))
    for _, _, path in sorted(files):
        document = json.loads(path.read_text(encoding="utf-8"))
        for item in document if isinstance(document, list) else [document]:
            local = datetime.fromisoformat(item["timestamp"]).replace(tzinfo=ZoneInfo(TZ))
            moment = int(local.timestamp())
            values = {
                "pv_power_w": float(item["photovoltaic"]["current_power_w"]),
                "battery_soc_pct": float(item["battery"]["soc_percent"]),
                "battery_power_w": float(item["battery"]["power_w"]),
                "grid_power_w": float(item["grid"]["power_w"]),
                "load_power_w": float(item["house_consumption"]["current_power_w"]),
            }
            body = f"{_line(values, item['system']['inverter_serial'])} {moment}".encode()
            request = urllib.request.Request(url, data=body, method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
            sent += 1
            if sent >= sample:
                return time.perf_counter() - started, sent
    return time.perf_counter() - started, sent


def final_lines(server: InfluxServer, count: int) -> list[str]:
    """The deduplicated readings of (a), as line protocol with every field (ms precision)."""
    from goodwe_pipeline.raw_store import open_raw_store

    store = open_raw_store(data_dir="unused", influx_url=server.url, influx_db="ours")
    start, end = local_days.range_window(FIRST, FIRST + timedelta(days=count - 1), TZ)
    frame = store.read(start, end)
    frame = frame[frame[SOURCE] == SOURCE_LEGACY]
    stamps = frame[TIME].astype("int64") // 1000
    lines = []
    for row, stamp in zip(frame.itertuples(index=False), stamps, strict=True):
        values = {name: getattr(row, name) for name in FIELD_NAMES}
        lines.append(f"{_line(values, row.device_id)} {stamp}")
    return lines


def run_floor(server: InfluxServer, lines: list[str]) -> float:
    server.query('CREATE DATABASE "floor"')
    session = requests.Session()
    url = f"{server.url}/write"
    started = time.perf_counter()
    for offset in range(0, len(lines), BATCH_LINES):
        body = "\n".join(lines[offset : offset + BATCH_LINES]).encode()
        response = session.post(
            url, params={"db": "floor", "precision": "ms"}, data=body, timeout=60
        )
        response.raise_for_status()
    return time.perf_counter() - started


def run_decode_only(legacy: Path) -> tuple[float, int]:
    """A lower bound for any migration of the folder: open every file and decode its records
    with orjson, nothing else (no times, mapping, checks, deduplication, index or writes).
    Of a ``historical_data`` snapshot only its last 5 records (its new ones) are read and
    decoded, as if the repeated rest cost nothing; the SQLite rows are fetched."""
    import orjson

    decoded = 0
    started = time.perf_counter()
    for folder in (legacy / "out" / "energy_data", legacy / "data"):
        for entry in os.scandir(folder):
            if entry.name.startswith("historical_data_"):
                fd = os.open(entry.path, os.O_RDONLY)
                try:
                    size = os.fstat(fd).st_size
                    tail = os.pread(fd, 20_000, max(0, size - 20_000))
                finally:
                    os.close(fd)
                for element in tail.split(b"\n  {")[1:][-5:]:
                    orjson.loads(b"{" + element.rstrip(b"\n],"))
                    decoded += 1
            elif entry.name.endswith(".json"):
                with open(entry.path, "rb") as f:
                    document = orjson.loads(f.read())
                decoded += len(document) if isinstance(document, list) else 1
            elif entry.name.endswith(".db"):
                connection = sqlite3.connect(f"file:{entry.path}?mode=ro", uri=True)
                decoded += len(connection.execute("SELECT * FROM energy_data").fetchall())
                connection.close()
    return time.perf_counter() - started, decoded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sample", type=int, default=2_000, help="readings timed for (b)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="goodwe-bench-"))
    legacy, data = work / "optimiser", work / "data"
    try:
        started = time.perf_counter()
        stats = generate(legacy, args.days)
        size = sum(p.stat().st_size for p in legacy.rglob("*") if p.is_file())
        print(f"generated {stats['files']:,} files, {size / 1e9:.2f} GB, {stats['readings']:,} readings "
              f"({stats['reading_copies']:,} copies across files) in {time.perf_counter() - started:.1f} s")  # fmt: skip
        server = InfluxServer(work / "influxd")
        server.start()
        try:
            elapsed_a, metadata = run_ours(legacy, data, server, args.days)
            migrated = int(metadata["readings_migrated"])
            split = metadata["seconds"]
            sample_s, sent = run_roadmap_sample(legacy, server, args.sample)
            per_reading_b = sample_s / sent
            elapsed_b = per_reading_b * stats["reading_copies"]
            lines = final_lines(server, args.days)
            elapsed_c = run_floor(server, lines)
            elapsed_d, decoded = run_decode_only(legacy)
        finally:
            server.stop()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n(a) our backfill, one run of {args.days} partitions: {elapsed_a:.2f} s, "
          f"{migrated:,} readings, {migrated / elapsed_a:,.0f} readings/s")  # fmt: skip
    print("    split (s): " + ", ".join(
        f"{k} {split.get(k, 0.0):.2f}" for k in ("index", "parse", "normalise", "write", "write_wait", "total")
    ) + f"; Dagster run overhead {elapsed_a - split.get('total', 0.0):.2f}")  # fmt: skip
    print(
        "    (write runs on a background thread while the next day is parsed; write_wait is the "
        "time the migration waited for it)"
    )
    print(f"(b) old roadmap, one HTTP write per reading: {per_reading_b * 1000:.2f} ms/reading measured on "
          f"{sent:,} readings ({sample_s:.1f} s); EXTRAPOLATED to all {stats['reading_copies']:,} reading "
          f"copies in the files: {elapsed_b:,.0f} s ({elapsed_b / 60:.1f} min), "
          f"{stats['readings'] / elapsed_b:,.0f} distinct readings/s")  # fmt: skip
    print(f"(c) floor, {len(lines):,} final lines in {BATCH_LINES:,}-line POSTs: {elapsed_c:.2f} s, "
          f"{len(lines) / elapsed_c:,.0f} readings/s")  # fmt: skip
    print(f"(d) for scale, only opening the files and decoding their {decoded:,} records (no times, "
          f"mapping, checks, deduplication, index or writes): {elapsed_d:.2f} s = "
          f"{elapsed_d / elapsed_c:.2f}x (c)")  # fmt: skip
    faster = elapsed_b / elapsed_a
    over_floor = elapsed_a / elapsed_c
    print(
        f"\n(b)/(a) = {faster:,.0f}x faster (target >= 50x): {'met' if faster >= 50 else 'NOT met'}"
    )
    print(
        f"(a)/(c) = {over_floor:.2f}x the floor (target <= 3x): {'met' if over_floor <= 3 else 'NOT met'}"
    )
    migration_only = split.get("total", elapsed_a) / elapsed_c
    print(f"(a) without the Dagster run overhead: {migration_only:.2f}x the floor")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
