"""Benchmark one polling tick over 1, 10 and 50 emulated inverters (Modbus/TCP, distinct ports).

The emulators run in their own process (``goodwe-pipeline emulator --count 50``)
so they do not share the poller's interpreter. Prints, per fleet size, the
tick time, the slowest single inverter read in that tick and the ratio of the
tick to a lone inverter's read (target: 50 inverters within 3x), then our own
overhead per reading: building the canonical frame and writing it to the
Parquet raw store, for a tick of one inverter and of the whole fleet, tick after tick
(target: at most 10 ms per reading).

    .venv/bin/python bench/poll.py [--latency 0.05] [--ticks 5]

``--latency`` is each emulated dongle's reply latency (a real Wi-Fi dongle
answers in tens to hundreds of milliseconds; 0 measures pure CPU cost).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from goodwe_pipeline import readings
from goodwe_pipeline.common.settings import InverterAddress
from goodwe_pipeline.ingest.inverters import InverterPoller
from goodwe_pipeline.raw_store.parquet import COMPACT_AFTER, ParquetRawStore

SIZES = (1, 10, 50)


def start_emulators(count: int, latency: float) -> tuple[subprocess.Popen, list[InverterAddress]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "goodwe_pipeline.cli",
            "emulator",
            "--tcp",
            "--port",
            "0",
            "--count",
            str(count),
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    addresses = []
    while len(addresses) < count:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited before listening")
        host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
        addresses.append(InverterAddress(host, int(port), "ET"))
    return process, addresses


async def measure(addresses: list[InverterAddress], ticks: int) -> dict[int, dict[str, float]]:
    figures: dict[int, dict[str, float]] = {}
    for size in SIZES:
        fleet = addresses[:size]
        poller = InverterPoller(timeout_s=2.0, retries=2, budget_s=45)
        cold = await poller.poll(fleet)
        if not all(r.ok for r in cold):
            failed = [r.error for r in cold if not r.ok]
            raise RuntimeError(f"{len(failed)} inverters failed: {failed[:3]}")
        tick_s, slowest_s, single_s = [], [], []
        for _ in range(ticks):
            started = time.perf_counter()
            results = await poller.poll(fleet)
            tick_s.append(time.perf_counter() - started)
            slowest_s.append(max(r.elapsed_s for r in results))
            single_s.append(min(r.elapsed_s for r in results))
        await poller.close()
        figures[size] = {
            "tick": statistics.median(tick_s),
            "slowest": statistics.median(slowest_s),
            "fastest": statistics.median(single_s),
        }
    return figures


def overhead_per_reading(
    addresses: list[InverterAddress], ticks: int
) -> dict[int, tuple[float, float, float]]:
    """Per fleet size: median ms per reading to normalise a tick's readings, and median and
    mean ms per reading to write them to the Parquet store, tick after tick 30 s apart (as
    the sensor does; the mean includes the compactions every ``COMPACT_AFTER`` ticks)."""

    async def one_tick():
        poller = InverterPoller(timeout_s=2.0, retries=2, budget_s=45)
        results = await poller.poll(addresses)
        await poller.close()
        return [r.reading for r in results if r.reading is not None]

    full = asyncio.run(one_tick())
    figures = {}
    for size in (1, len(full)):
        sample = full[:size]
        normalise_ms, write_ms = [], []
        with tempfile.TemporaryDirectory() as tmp:
            store = ParquetRawStore(Path(tmp) / "raw")
            for i in range(max(ticks, 2 * COMPACT_AFTER)):
                shift = timedelta(seconds=30 * i)
                batch = [{**r, readings.TIME: r[readings.TIME] + shift} for r in sample]
                started = time.perf_counter()
                frame = readings.from_records(batch)
                normalised = time.perf_counter()
                store.write(frame)
                written = time.perf_counter()
                normalise_ms.append((normalised - started) * 1000 / len(batch))
                write_ms.append((written - normalised) * 1000 / len(batch))
        figures[size] = (
            statistics.median(normalise_ms),
            statistics.median(write_ms),
            statistics.mean(write_ms),
        )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="emulated reply latency, s")
    parser.add_argument("--ticks", type=int, default=5, help="warm ticks per fleet size")
    args = parser.parse_args()
    process, addresses = start_emulators(max(SIZES), args.latency)
    try:
        figures = asyncio.run(measure(addresses, args.ticks))
        overheads = overhead_per_reading(addresses, args.ticks)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(20)
    single = figures[1]["tick"]
    print(f"emulated reply latency {args.latency * 1000:.0f} ms, median of {args.ticks} warm ticks")
    print(f"{'inverters':>9} {'tick s':>8} {'slowest read s':>15} {'tick / single read':>19}")
    for size, f in figures.items():
        print(f"{size:>9} {f['tick']:>8.3f} {f['slowest']:>15.3f} {f['tick'] / single:>19.2f}")
    ratio = figures[max(SIZES)]["tick"] / single
    print(f"target: {max(SIZES)} inverters <= 3x single read: {'met' if ratio <= 3 else 'NOT met'}")
    for count, (normalise_ms, write_ms, write_mean_ms) in overheads.items():
        total = normalise_ms + write_ms
        amortised = normalise_ms + write_mean_ms
        print(
            f"our overhead per reading ({count} readings per tick): normalise {normalise_ms:.2f} ms "
            f"+ Parquet write {write_ms:.2f} ms = {total:.2f} ms (median tick); "
            f"{amortised:.2f} ms with compactions (mean) "
            f"(target <= 10 ms: {'met' if max(total, amortised) <= 10 else 'NOT met'})"
        )
    print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
