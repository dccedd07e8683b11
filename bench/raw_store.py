"""Raw-store benchmark: one day of 10-second readings for 10 devices (86,400 rows).

InfluxDB: a private ``influxd`` (started here, on a free port and a temporary
data directory) receives the rows four times per round, each time into a fresh
database:

- floor: the same points as pre-serialised line protocol, gzip-compressed in
  advance, POSTed in 5,000-line batches one after another (what the server
  itself needs);
- store: ``InfluxRawStore.write`` of the DataFrame (serialising, compressing,
  batching, posting), with its default gzip bodies;
- v2 store: ``InfluxV2RawStore.write`` (the v2 API through ``influxdb-client``,
  gzip) into a fresh bucket of ``influx_v2_front``, the tests' stand-in for an
  InfluxDB 2.x server over the same ``influxd``; its ratio is to the same floor,
  so it includes the front's own forwarding (the cost a real 2.x server's
  different engine would replace);
- and the floor/store pair without compression (``gzip=False``), printed for scale.

Target: gzip store and v2 store <= 1.5 x gzip floor. The order of floor and store alternates
between rounds, after one uncounted warm-up round. Then the Parquet store writes
the rows, rewrites them (merge), reads them; and takes a day of one-reading
sensor writes (deltas and their compactions) for one device.

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
from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.raw_store.influx import (  # noqa: E402
    WRITE_PRECISION,
    InfluxRawStore,
    line_protocol,
    quote_identifier,
)
from goodwe_pipeline.raw_store.influx_v2 import InfluxV2RawStore  # noqa: E402
from goodwe_pipeline.raw_store.parquet import ParquetRawStore  # noqa: E402
from goodwe_pipeline.raw_store.prepare import prepare  # noqa: E402
from goodwe_pipeline_tests.influx_v2_front import InfluxV2Front  # noqa: E402
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
                params={"db": database, "precision": WRITE_PRECISION},
                data=body,
                headers=headers,
            )
            if response.status_code != 204:
                raise RuntimeError(response.text)
        return time.perf_counter() - started, database


def timed_store_write(store: InfluxRawStore, frame: pd.DataFrame) -> float:
    """Seconds ``store.write(frame)`` takes; every row must be acknowledged."""
    try:
        started = time.perf_counter()
        written = store.write(frame)
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    if written != len(frame):
        raise RuntimeError(f"{store.api} store acknowledged {written} of {len(frame)} rows")
    return elapsed


def store_write(url: str, frame: pd.DataFrame, gzip_body: bool) -> tuple[float, str]:
    database = create_database(url)
    return timed_store_write(
        InfluxRawStore(RawStoreSettings(influx_url=url, influx_db=database, influx_gzip=gzip_body)),
        frame,
    ), database


def store_write_v2(front: InfluxV2Front, token: str, frame: pd.DataFrame) -> tuple[float, str]:
    bucket = f"bench_{uuid.uuid4().hex[:8]}"
    front.add_bucket(bucket)
    store = InfluxV2RawStore(
        RawStoreSettings(
            influx_url=front.url, influx_db=bucket, influx_org=front.org, influx_token=token
        )
    )
    return timed_store_write(store, frame), bucket


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
    prepared = prepare(frame).frame
    bodies = [line_protocol(prepared.iloc[i : i + BATCH]) for i in range(0, len(prepared), BATCH)]
    gzipped = [gzip.compress(body, compresslevel=1) for body in bodies]
    print(f"line protocol: {sum(map(len, bodies)) / 1e6:.1f} MB in {len(bodies)} batches")

    with tempfile.TemporaryDirectory(prefix="bench-influxd-") as tmp:
        server = InfluxServer(Path(tmp))
        server.start()
        front = InfluxV2Front(server).start()
        token = front.token()
        try:
            # Warm-up (not counted): the first writes into a new server create its shards.
            post_floor(server.url, gzipped, True)
            store_write(server.url, frame, True)
            store_write_v2(front, token, frame)
            figures: dict[str, list[float]] = {
                "floor": [],
                "store": [],
                "v2 store": [],
                "plain floor": [],
                "plain store": [],
            }
            for round_no in range(args.rounds):
                pairs = [
                    ("floor", lambda: post_floor(server.url, gzipped, True)),
                    ("store", lambda: store_write(server.url, frame, True)),
                    ("v2 store", lambda: store_write_v2(front, token, frame)),
                    ("plain floor", lambda: post_floor(server.url, bodies, False)),
                    ("plain store", lambda: store_write(server.url, frame, False)),
                ]
                if round_no % 2:
                    pairs = [pairs[2], pairs[1], pairs[0], pairs[4], pairs[3]]
                for name, run in pairs:
                    elapsed, database = run()
                    if count_rows(server.url, database) != len(frame):
                        raise RuntimeError(f"{database} ({name}) does not hold every row")
                    figures[name].append(elapsed)
                last = {name: values[-1] for name, values in figures.items()}
                print(
                    f"round {round_no + 1}: gzip floor {last['floor']:.2f} s, store "
                    f"{last['store']:.2f} s (ratio {last['store'] / last['floor']:.2f}), v2 store "
                    f"{last['v2 store']:.2f} s (ratio {last['v2 store'] / last['floor']:.2f}); "
                    f"plain: floor "
                    f"{last['plain floor']:.2f} s, store {last['plain store']:.2f} s "
                    f"(ratio {last['plain store'] / last['plain floor']:.2f})",
                    flush=True,
                )
        finally:
            front.stop()
            server.stop()
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(
        f"InfluxDB gzip median: floor {median['floor']:.2f} s, store {median['store']:.2f} s, "
        f"ratio {median['store'] / median['floor']:.2f} (target <= 1.5)"
    )
    print(
        f"InfluxDB v2 API (through the 2.x stand-in) median: {median['v2 store']:.2f} s, ratio "
        f"to the gzip floor {median['v2 store'] / median['floor']:.2f} (target <= 1.5)"
    )
    print(
        f"InfluxDB plain median: floor {median['plain floor']:.2f} s, store "
        f"{median['plain store']:.2f} s, ratio {median['plain store'] / median['plain floor']:.2f}"
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
    with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
        parquet = ParquetRawStore(tmp)
        device = frame[frame["device_id"] == frame["device_id"].iloc[0]]
        ticks = [device.iloc[i : i + 1].reset_index(drop=True) for i in range(0, len(device), 3)]
        started = time.perf_counter()
        for tick in ticks:
            parquet.write(tick)
        sensor = time.perf_counter() - started
        reads = [timed(lambda: parquet.read(start, end)) for _ in range(3)]
        if len(parquet.read(start, end)) != len(ticks):
            raise RuntimeError("Parquet store lost sensor rows")
    print(
        f"Parquet sensor: {len(ticks)} one-reading writes (a day at 30 s) in {sensor:.2f} s, "
        f"{sensor / len(ticks) * 1000:.2f} ms each with compactions; "
        f"read of the day {statistics.median(reads) * 1000:.1f} ms"
    )
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
