"""Raw-store benchmark: one day of 10-second readings for 10 devices (86,400 rows).

InfluxDB: a private ``influxd`` (started here, on a free port and a temporary
data directory) receives the rows twice per round, each time into a fresh
database:

- floor: the same points as pre-serialised line protocol, POSTed in
  5,000-line batches one after another (what the server itself needs);
- store: ``InfluxRawStore.write`` of the DataFrame (serialising, batching,
  posting).

Target: store <= 1.5 x floor. The order of the two alternates between rounds,
after one uncounted warm-up round.
The store is also timed with gzip forced on (it is off by default for a
server on loopback) against a floor of pre-compressed bodies. Then the Parquet
store writes, rewrites (merge) and reads the same rows.

Run: ``.venv/bin/python bench/raw_store.py [--rounds 3]``
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from goodwe_pipeline import readings  # noqa: E402
from goodwe_pipeline.raw_store.influx import InfluxRawStore, quote_identifier  # noqa: E402
from goodwe_pipeline.raw_store.parquet import ParquetRawStore  # noqa: E402
from goodwe_pipeline_tests.servers import InfluxServer  # noqa: E402

DEVICES = 10
STEP_S = 10
BATCH = 5_000


def one_day(devices: int = DEVICES, step_s: int = STEP_S) -> pd.DataFrame:
    """Plausible readings: smooth curves plus noise, lifetime counters rising, clock skew unknown."""
    rng = np.random.default_rng(42)
    times = pd.date_range("2025-06-01", periods=86_400 // step_s, freq=f"{step_s}s", tz="UTC")
    hours = (times.hour + times.minute / 60).to_numpy()
    sun = np.clip(np.sin((hours - 5) / 15 * np.pi), 0, None)
    frames = []
    for d in range(devices):
        n = len(times)
        frame = pd.DataFrame({"time": times, "device_id": f"GW{d:04d}SN{d * 7919:06d}"})
        frame["source"] = readings.SOURCE_INVERTER
        for i, name in enumerate(readings.FIELD_NAMES):
            base = (i + 1) * 37.0
            frame[name] = np.round(base + base * sun + rng.normal(0, base * 0.05, n), 1)
        frame["pv_energy_total_kwh"] = np.round(12_000 + np.cumsum(sun) / 360, 1)
        frame["battery_mode"] = rng.integers(0, 4, n).astype(float)
        frame["inverter_clock_skew_s"] = np.nan
        frames.append(frame)
    return readings.normalize(pd.concat(frames, ignore_index=True))


def create_database(url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    response = requests.post(
        f"{url}/query", data={"q": f"CREATE DATABASE {quote_identifier(name)}"}
    )
    response.raise_for_status()
    return name


def count_rows(url: str, database: str) -> int:
    response = requests.post(
        f"{url}/query",
        data={"q": 'SELECT count("pv_power_w") FROM "inverter_readings"', "db": database},
    )
    series = response.json()["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def post_floor(url: str, bodies: list[bytes], compressed: bool) -> tuple[float, str]:
    database = create_database(url)
    headers = {"Content-Encoding": "gzip"} if compressed else {}
    with requests.Session() as session:
        started = time.perf_counter()
        for body in bodies:
            response = session.post(
                f"{url}/write",
                params={"db": database, "precision": "ms"},
                data=body,
                headers=headers,
            )
            if response.status_code != 204:
                raise RuntimeError(response.text)
        return time.perf_counter() - started, database


def store_write(url: str, frame: pd.DataFrame, gzip_body: bool | None) -> tuple[float, str]:
    database = create_database(url)
    store = InfluxRawStore(url, database, gzip=gzip_body)
    try:
        started = time.perf_counter()
        written = store.write(frame)
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    if written != len(frame):
        raise RuntimeError(f"store acknowledged {written} of {len(frame)} rows")
    return elapsed, database


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    frame = one_day()
    print(f"rows: {len(frame):,} ({DEVICES} devices, one day every {STEP_S} s)")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    serialiser = InfluxRawStore("http://127.0.0.1:1", "unused")
    lines = serialiser._serialize(frame)
    bodies = ["\n".join(lines[i : i + BATCH]).encode() for i in range(0, len(lines), BATCH)]
    gzipped = [gzip.compress(body, compresslevel=1) for body in bodies]
    print(f"line protocol: {sum(map(len, bodies)) / 1e6:.1f} MB in {len(bodies)} batches")

    with tempfile.TemporaryDirectory(prefix="bench-influxd-") as tmp:
        server = InfluxServer(Path(tmp))
        server.start()
        try:
            # Warm-up (not counted): the first writes into a new server create its shards.
            post_floor(server.url, bodies, False)
            store_write(server.url, frame, None)
            floors, stores, gz_floors, gz_stores = [], [], [], []
            for round_no in range(args.rounds):
                if round_no % 2 == 0:
                    floor, floor_db = post_floor(server.url, bodies, False)
                    store, store_db = store_write(server.url, frame, None)
                else:
                    store, store_db = store_write(server.url, frame, None)
                    floor, floor_db = post_floor(server.url, bodies, False)
                gz_floor, _ = post_floor(server.url, gzipped, True)
                gz_store, _ = store_write(server.url, frame, True)
                for database in (floor_db, store_db):
                    if count_rows(server.url, database) != len(frame):
                        raise RuntimeError(f"{database} does not hold every row")
                floors.append(floor)
                stores.append(store)
                gz_floors.append(gz_floor)
                gz_stores.append(gz_store)
                print(
                    f"round {round_no + 1}: floor {floor:.2f} s, store {store:.2f} s "
                    f"(ratio {store / floor:.2f}); gzip: floor {gz_floor:.2f} s, "
                    f"store {gz_store:.2f} s (ratio {gz_store / gz_floor:.2f})",
                    flush=True,
                )
        finally:
            server.stop()
    floor, store = statistics.median(floors), statistics.median(stores)
    print(
        f"InfluxDB median: floor {floor:.2f} s, store {store:.2f} s, "
        f"ratio {store / floor:.2f} (target <= 1.5)"
    )
    gz_floor, gz_store = statistics.median(gz_floors), statistics.median(gz_stores)
    print(
        f"InfluxDB gzip median: floor {gz_floor:.2f} s, store {gz_store:.2f} s, ratio {gz_store / gz_floor:.2f}"
    )

    with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
        parquet = ParquetRawStore(tmp)
        start, end = frame["time"].min(), frame["time"].max() + pd.Timedelta(seconds=STEP_S)
        write = timed(lambda: parquet.write(frame))
        rewrite = timed(lambda: parquet.write(frame))
        reads = [timed(lambda: parquet.read(start, end)) for _ in range(3)]
        if len(parquet.read(start, end)) != len(frame):
            raise RuntimeError("Parquet store lost rows")
    print(
        f"Parquet: write {write:.2f} s, rewrite (merge) {rewrite:.2f} s, "
        f"read {statistics.median(reads):.3f} s"
    )
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
