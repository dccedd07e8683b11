"""Benchmark: migrating 30 days of optimiser history into a local InfluxDB, on two corpora.

Both corpora hold 30 days at one reading a minute, in the files the optimiser really wrote:

- ``snapshots``: ``current_data_*`` (every 5 minutes) and ``historical_data_*`` (the last 100
  readings, every 5 minutes, ``json.dump(indent=2)``) for all 30 days, ``daily_stats_*``, and
  for the last 10 days also the daily flat arrays and the SQLite database of later versions;
- ``file-heavy``: those snapshots for the first 10 days, daily arrays and SQLite rows for the
  next 10, and for the last 10 one ``energy_data_YYYYMMDD_HHMMSS.json`` a minute, two thirds
  of them gzipped (the storage roadmap's files): about 20,000 files.

On each, against one ``influxd`` started for the run, it times:

(a) the documented terminal backfill as a whole process, checks included:
    ``dg launch --assets legacy_readings --partition-range FIRST...LAST`` (InfluxDB raw
    store, SQLite warehouse, a ``DAGSTER_HOME`` like the demo's), with the seconds of each
    step from the run's events and the migration's own split;
(f) Dagster's floor: the same command over the same 30 partitions for an asset that does
    nothing and has no checks (``bench/noop_backfill.py``);
(b) the old roadmap's way: read every file, one synchronous HTTP write per reading, timed on
    a sample (``--sample`` readings, 20,000 by default, files in a fixed shuffled order so
    every era is sampled) and extrapolated to every reading copy in the files;
(r) for scale: reading, inflating and JSON-parsing every file whole and nothing else, in one
    process, and the ratio ((f)+(r))/(f) a migration doing only that would reach.

With ``--repeat N`` (f) and (a) run N times, alternating, each into fresh stores; the ratios
compare their medians, and the step split is the last run's.

Targets on both corpora: (a) <= 2x (f), and (a) >= 35x faster than (b).

    .venv/bin/python bench/migration.py [--days 30] [--sample 20000] [--corpus both] [--repeat 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goodwe_pipeline.history.formats import detect  # noqa: E402
from goodwe_pipeline.readings import MEASUREMENT, SOURCE_LEGACY  # noqa: E402
from goodwe_pipeline_tests.legacy_corpus import _truth, flat, nested  # noqa: E402
from goodwe_pipeline_tests.servers import InfluxServer  # noqa: E402

TZ = "Europe/Warsaw"
FIRST = date(2025, 10, 10)
BATCH_LINES = 5_000


@dataclass(frozen=True)
class Eras:
    """Which days of the corpus each version of the optimiser wrote (day offsets, half-open)."""

    snapshots: range
    """``current_data_*`` + ``historical_data_*`` every 5 minutes."""
    arrays: range
    """Daily ``energy_data_YYYY-MM-DD.json`` arrays and rows of the SQLite database."""
    per_minute: range
    """One ``energy_data_YYYYMMDD_HHMMSS.json`` a minute, two thirds gzipped."""


def corpora(count: int) -> dict[str, Eras]:
    """Today's corpus (snapshots every day, arrays and database for the last ten) and the
    file-heavy one (a third of the days each: snapshots, arrays and database, per-minute files)."""
    third = count // 3
    return {
        "snapshots": Eras(range(0, count), range(count - third, count), range(0)),
        "file-heavy": Eras(range(0, third), range(third, 2 * third), range(2 * third, count)),
    }


def generate(root: Path, count: int, eras: Eras) -> dict[str, int]:
    """Write the legacy folder; return how many files and reading copies it holds."""
    zone = ZoneInfo(TZ)
    energy = root / "out" / "energy_data"
    energy.mkdir(parents=True)
    (root / "data").mkdir()
    per_day = _truth(FIRST, count, zone, 1)
    readings = [t for day in per_day for t in day]
    day_of = [position for position, day in enumerate(per_day) for _ in day]
    top = [json.dumps(nested(t), indent=2, ensure_ascii=False) for t in readings]
    elements = ["  " + text.replace("\n", "\n  ") for text in top]
    stats = {"files": 0, "reading_copies": 0}

    def write(path: Path, data: str | bytes, moment) -> None:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        os.utime(path, (moment.timestamp(), moment.timestamp()))
        stats["files"] += 1

    sample = [nested(t) for t in readings[:3]]
    assert "[\n" + ",\n".join(elements[:3]) + "\n]" == json.dumps(
        sample, indent=2, ensure_ascii=False
    )
    for index, t in enumerate(readings):
        written = t.utc + timedelta(seconds=1)
        stamp = written.astimezone(zone).strftime("%Y%m%d_%H%M%S")
        if day_of[index] in eras.per_minute:
            name = energy / f"energy_data_{stamp}.json"
            if index % 3:
                write(
                    name.with_name(name.name + ".gz"),
                    gzip.compress(top[index].encode(), mtime=0),
                    written,
                )
            else:
                write(name, top[index], written)
            stats["reading_copies"] += 1
        if day_of[index] not in eras.snapshots or t.local.minute % 5:
            continue
        write(energy / f"current_data_{stamp}.json", top[index], written)
        first = max(0, index - 99)
        while day_of[first] not in eras.snapshots:
            first += 1
        window = elements[first : index + 1]
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
    later = [per_day[position] for position in eras.arrays]
    connection = sqlite3.connect(root / "data" / "goodwe_energy.db")
    connection.execute("PRAGMA journal_mode=WAL")
    columns = list(flat(per_day[0][0]).keys())
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


def write_instance(home: Path) -> None:
    """A ``DAGSTER_HOME`` as the demo's: SQLite storage, INFO logs, no telemetry."""
    from goodwe_pipeline.demo.processes import write_instance_config

    write_instance_config(home)


def cli_backfill(env: dict[str, str], select: str, count: int, *extra: str) -> float:
    """The documented terminal backfill as a whole process: ``dg launch --assets ...
    --partition-range FIRST...LAST``; seconds from start to exit."""
    last = FIRST + timedelta(days=count - 1)
    command = [str(ROOT / ".venv" / "bin" / "dg"), "launch", *extra, "--assets", select,
               "--partition-range", f"{FIRST.isoformat()}...{last.isoformat()}"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "RUN_FAILURE" in done.stderr:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return elapsed


def run_ours(
    legacy: Path, work: Path, server: InfluxServer, count: int, db: str
) -> tuple[float, dict, dict]:
    """(a): the migration with its checks through the CLI; its seconds, the asset's metadata
    and the seconds of each step (from the run's events)."""
    import dagster as dg

    home = work / "dagster_home"
    write_instance(home)
    env = {**_base_env(), "DAGSTER_HOME": str(home), "GOODWE_LEGACY_DIR": str(legacy),
           "GOODWE_DATA_DIR": str(work / "data"), "GOODWE_INFLUX_URL": server.url,
           "GOODWE_INFLUX_DB": db, "GOODWE_TIMEZONE": TZ}  # fmt: skip
    elapsed = cli_backfill(env, "legacy_readings", count)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.get_run_records(limit=1)
        stats = instance.get_run_step_stats(record.dagster_run.run_id)
        metadata = _run_metadata(instance, dg.AssetKey("legacy_readings"))
    steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats}
    return elapsed, metadata, steps


def _run_metadata(instance, key) -> dict:
    """The run-level metadata of the latest materialization of ``key``: the output's, not one
    of the per-day events logged after it (``defs/day_events.py``)."""
    records = instance.fetch_materializations(key, limit=100).records
    for record in records:
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        if "readings_migrated" in metadata:
            return metadata
    raise RuntimeError(f"no run-level materialization of {key.to_user_string()}")


def run_dagster_floor(work: Path, count: int) -> float:
    """The same command over the same partitions for one asset that does nothing, no checks."""
    home = work / "dagster_home_floor"
    write_instance(home)
    shape = {"first_day": FIRST.isoformat(), "timezone": TZ, "executor": "in_process",
             "assets": [{"name": "legacy_readings", "deps": []}], "checks": []}  # fmt: skip
    path = work / "floor_shape.json"
    path.write_text(json.dumps(shape))
    env = {**_base_env(), "DAGSTER_HOME": str(home), "BENCH_FLOOR_SHAPE": str(path)}
    return cli_backfill(
        env, "floor_legacy_readings", count, "-f", str(ROOT / "bench" / "noop_backfill.py")
    )


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GOODWE_", "DAGSTER_"))}


def _line(reading: dict, device: str) -> str:
    """One line of protocol, written by hand as the old roadmap did."""
    fields = ",".join(
        f"{name}={value}"
        for name, value in reading.items()
        if isinstance(value, float) and math.isfinite(value)
    )
    return f"{MEASUREMENT},device_id={device},source={SOURCE_LEGACY} {fields}"


def _roadmap_values(item: dict) -> tuple[str, int, dict[str, float]] | None:
    """Device, epoch seconds and five fields of a nested or flat record, as the roadmap read them."""
    local = datetime.fromisoformat(item["timestamp"]).replace(tzinfo=ZoneInfo(TZ))
    if "photovoltaic" in item:
        values = {
            "pv_power_w": item["photovoltaic"]["current_power_w"],
            "battery_soc_pct": item["battery"]["soc_percent"],
            "battery_power_w": item["battery"]["power_w"],
            "grid_power_w": item["grid"]["power_w"],
            "load_power_w": item["house_consumption"]["current_power_w"],
        }
        device = item["system"]["inverter_serial"]
    else:
        values = {
            "pv_power_w": item.get("pv_power"),
            "battery_soc_pct": item.get("battery_soc"),
            "battery_power_w": item.get("battery_power"),
            "grid_power_w": item.get("grid_power"),
            "load_power_w": item.get("house_consumption"),
        }
        device = "legacy"
    numbers = {k: float(v) for k, v in values.items() if isinstance(v, int | float)}
    return device, int(local.timestamp()), numbers


def run_roadmap_sample(
    legacy: Path, server: InfluxServer, sample: int, db: str
) -> tuple[float, int]:
    """Read reading files (every format, in a fixed shuffled order so each era is sampled) and
    POST each reading on its own, until ``sample`` readings went out."""
    server.query(f'CREATE DATABASE "{db}"')
    url = f"{server.url}/write?db={db}&precision=s"
    formats = {"current_data", "historical_data", "energy_data_snapshot", "energy_data_daily"}
    files = sorted(
        path
        for path in (legacy / "out" / "energy_data").iterdir()
        if (detected := detect(path.name)) and detected.format.value in formats
    )
    random.Random(7).shuffle(files)
    sent = 0
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        document = json.loads(data)
        for item in document if isinstance(document, list) else [document]:
            device, moment, values = _roadmap_values(item)
            body = f"{_line(values, device)} {moment}".encode()
            request = urllib.request.Request(url, data=body, method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
            sent += 1
            if sent >= sample:
                return time.perf_counter() - started, sent
    return time.perf_counter() - started, sent


def import_dagster_seconds() -> float:
    """A fresh process's ``import dagster``, for scale."""
    code = "import time; t = time.perf_counter(); import dagster; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def read_and_parse_seconds(files: list[Path]) -> float:
    """Reading every file, inflating the gzipped ones and parsing each JSON document (or
    line) whole, nothing else, in this one process. For scale, not a bound: the migration
    parses less where snapshots repeat (it splits their arrays and decodes only the records
    it has not seen)."""
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = zlib.decompress(data, wbits=31)
        elif path.suffix != ".json":
            continue
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:
            for line in data.splitlines():
                if line.strip():
                    with contextlib.suppress(orjson.JSONDecodeError):
                        orjson.loads(line)
    return time.perf_counter() - started


def measure(name: str, eras: Eras, work: Path, server: InfluxServer, args) -> dict:
    legacy = work / name / "optimiser"
    started = time.perf_counter()
    stats = generate(legacy, args.days, eras)
    files = [p for p in legacy.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"\n== {name} corpus: {stats['files']:,} files, {size / 1e6:,.0f} MB, "
          f"{stats['readings']:,} readings ({stats['reading_copies']:,} copies across files), "
          f"written in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    db = name.replace("-", "_")
    read_parse = read_and_parse_seconds(files)
    floors, ours_runs = [], []
    for number in range(args.repeat):
        run_dir = work / name / f"run{number}"
        floors.append(run_dagster_floor(run_dir, args.days))
        elapsed, metadata, steps = run_ours(legacy, run_dir, server, args.days, f"{db}_{number}")
        ours_runs.append(elapsed)
        if args.repeat > 1:
            print(f"run {number + 1}: (f) {floors[-1]:.2f} s, (a) {elapsed:.2f} s, "
                  f"(a)/(f) {elapsed / floors[-1]:.2f}x", flush=True)  # fmt: skip
    floor, ours = statistics.median(floors), statistics.median(ours_runs)
    sample_s, sent = run_roadmap_sample(legacy, server, args.sample, f"roadmap_{db}")
    roadmap = sample_s / sent * stats["reading_copies"]
    migrated = int(metadata["readings_migrated"])
    split = metadata["seconds"]
    step_total = sum(steps.values())
    print(f"(a) ours, `dg launch --assets legacy_readings --partition-range` (checks included), "
          f"whole process: {ours:.2f} s, {migrated:,} readings, {migrated / ours:,.0f} readings/s")  # fmt: skip
    print("    steps (s): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(steps.items(), key=lambda kv: -kv[1]))
          + f"; outside steps (start-up, imports, run) {ours_runs[-1] - step_total:.2f}")  # fmt: skip
    print("    migration split (s): " + ", ".join(
        f"{k} {split.get(k, 0.0):.2f}" for k in ("index", "parse", "normalise", "write", "write_wait", "total")))  # fmt: skip
    print(
        f"(f) Dagster's floor, the same command for an asset that does nothing, no checks: {floor:.2f} s"
    )
    print(f"(r) for scale, reading and parsing every file whole, nothing else, one process: {read_parse:.2f} s; "
          f"a migration that did only that, with no checks and Dagster's floor as its start-up, "
          f"would be ((f)+(r))/(f) = {(floor + read_parse) / floor:.2f}x")  # fmt: skip
    print(f"(b) the roadmap's way, one HTTP write per reading: {sample_s / sent * 1000:.2f} ms/reading on "
          f"{sent:,} readings ({sample_s:.1f} s), extrapolated to all {stats['reading_copies']:,} "
          f"reading copies: {roadmap:,.0f} s ({roadmap / 60:.1f} min)")  # fmt: skip
    over_floor, faster = ours / floor, roadmap / ours
    print(
        f"(a)/(f) = {over_floor:.2f}x Dagster's floor (target <= 2x): {'met' if over_floor <= 2 else 'NOT met'}"
    )
    print(
        f"(b)/(a) = {faster:,.0f}x faster than the roadmap (target >= 35x): {'met' if faster >= 35 else 'NOT met'}"
    )
    return {"ours": ours, "floor": floor, "roadmap": roadmap}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sample", type=int, default=20_000, help="readings timed for (b)")
    parser.add_argument("--corpus", choices=["snapshots", "file-heavy", "both"], default="both")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument(
        "--repeat", type=int, default=1, help="times (f) and (a) run, alternating; medians compared"
    )
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="goodwe-bench-"))
    print(f"import dagster in a fresh process: {import_dagster_seconds():.2f} s")
    try:
        server = InfluxServer(work / "influxd")
        server.start()
        try:
            results = {
                name: measure(name, eras, work, server, args)
                for name, eras in corpora(args.days).items()
                if args.corpus in (name, "both")
            }
        finally:
            server.stop()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n== summary (targets: (a)/(f) <= 2x, (b)/(a) >= 35x)")
    for name, figures in results.items():
        print(f"{name}: (a) {figures['ours']:.2f} s, (f) {figures['floor']:.2f} s, "
              f"(a)/(f) {figures['ours'] / figures['floor']:.2f}x, "
              f"(b)/(a) {figures['roadmap'] / figures['ours']:,.0f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
