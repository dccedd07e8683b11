"""``goodwe-pipeline demo``: the whole system on this machine, no servers, no configuration.

Writes sample optimiser history if ``--dir`` has none, starts two emulated
inverters (UDP 8899 and Modbus/TCP), points the pipeline at them and at the
history with embedded stores under ``--dir``, and runs ``dagster dev``.
Ctrl-C (or SIGTERM) stops dagster dev's whole process group and the emulators.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from goodwe_pipeline.common import days
from goodwe_pipeline.demo.history import Manifest, default_end, read_manifest, write_demo_history
from goodwe_pipeline.demo.inverters import DemoInverters, start_demo_inverters
from goodwe_pipeline.demo.processes import (
    DagsterDev,
    DagsterDevError,
    pipeline_environment,
    write_instance_config,
    write_workspace,
)
from goodwe_pipeline.readings import MEASUREMENT

HELP = (
    "Run everything locally: two emulated inverters, 30 days of sample history to migrate, "
    "and the Dagster UI (Ctrl-C stops it all)."
)
DEFAULT_DIR = Path("./data/demo")
WATCH_INTERVAL_S = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=3000, help="port of the Dagster UI")
    parser.add_argument("--host", default="127.0.0.1", help="address the Dagster UI listens on")
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help="demo folder: sample history, prices, the embedded stores and the Dagster instance",
    )
    parser.add_argument(
        "--udp-host",
        default="127.0.0.1",
        help="loopback address of the UDP inverter (UDP inverters always use port 8899, so a "
        "second demo needs another address, e.g. 127.0.0.2)",
    )
    parser.add_argument(
        "--poll-seconds",
        type=int,
        default=10,
        help="GOODWE_POLL_SECONDS of the demo (below 10 counts as 10)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=300, help="seconds to wait for the UI to come up"
    )


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ensure_history(directory: Path) -> Manifest:
    manifest = read_manifest(directory)
    if manifest is not None:
        print(
            f"sample history: {manifest.first_day} .. {manifest.last_day} in {manifest.legacy_dir}"
        )
        if days.parse_day(manifest.last_day) < default_end(manifest.timezone):
            print(
                f"  (it ends before yesterday: prices for today may be missing; delete {directory} "
                "to write fresh history up to yesterday)"
            )
        return manifest
    print(f"writing 30 days of sample optimiser history to {directory} ...", flush=True)
    manifest = write_demo_history(directory)
    print(
        f"  {sum(manifest.files.values())} files, {manifest.expected_readings} readings, "
        f"{len(manifest.broken_files)} broken on purpose; prices in {manifest.price_csv}"
    )
    return manifest


def terminal_backfill(env: dict[str, str], first: str, last: str) -> str:
    """The shell command that runs the demo's whole backfill from a terminal, with the demo's
    settings and instance (so its run shows in the UI): what the banner prints."""
    names = ("DAGSTER_HOME", "GOODWE_DATA_DIR", "GOODWE_LEGACY_DIR", "GOODWE_PRICE_SOURCE",
             "GOODWE_TIMEZONE")  # fmt: skip
    settings_line = " ".join(f"{name}={shlex.quote(env[name])}" for name in names)
    return (
        f"{settings_line} \\\n{shlex.quote(sys.prefix)}/bin/dg launch --assets '*' "
        f"--partition-range {first}...{last}"
    )


def _instructions(
    dev: DagsterDev, manifest: Manifest, inverters: DemoInverters, store: Path
) -> str:
    first, last = manifest.first_day, manifest.last_day
    lines = [
        "",
        f"The GoodWe pipeline demo is running: open {dev.url}",
        "",
        "  inverters:  " + "\n              ".join(inverters.describe()),
        f"  history:    {manifest.legacy_dir} ({first} .. {last})",
        f"  prices:     {manifest.price_csv}",
        f"  stores:     Parquet readings and SQLite warehouse under {store}",
        f"  log:        {dev.log_path}",
        "",
        "What to do:",
        f"  1. Live data: the poll_inverters sensor reads both inverters every "
        f"{dev.env['GOODWE_POLL_SECONDS']} s. Open Assets > {MEASUREMENT}: its events appear "
        "within a minute.",
        "  2. Bring the history up to date, in one backfill: Assets > select all > "
        f"Materialize selected > partitions {first}...{last} > Launch backfill (one run: prices, "
        "migration, sessions, reports, trends, archive; follow it on the Runs page). Or run "
        "in a terminal, in the repository's root folder:",
        "       " + terminal_backfill(dev.env, first, last).replace("\n", "\n       "),
        "  3. Read the results: each asset's Overview/Events show its metadata (sessions table, "
        "the day's energy and savings, rejected legacy files); Checks show data quality.",
        "",
        "Press Ctrl-C to stop everything.",
    ]
    return "\n".join(lines)


def _watch(dev: DagsterDev, stop: threading.Event, started: float) -> int:
    """Report the first live readings of this demo, then wait for Ctrl-C; 1 when dagster dev dies.

    ``started`` is the wall-clock start (``time.time()``): events of earlier demos do not count.
    """
    seen = False
    while not stop.wait(WATCH_INTERVAL_S):
        if not dev.running():
            print(dev.failure("dagster dev stopped unexpectedly"), file=sys.stderr)
            return 1
        if seen:
            continue
        try:
            event = dev.latest_materialization(MEASUREMENT)
        except DagsterDevError:
            continue
        if event is not None and int(event["timestamp"]) / 1000 >= started:
            seen = True
            at = datetime.fromtimestamp(int(event["timestamp"]) / 1000, UTC).astimezone()
            print(
                f"live readings: first {MEASUREMENT} event at {at:%H:%M:%S}, "
                f"{at.timestamp() - started:.0f} s after the demo started",
                flush=True,
            )
    return 0


def run(args: argparse.Namespace) -> int:
    started = time.time()
    directory = args.dir.expanduser().resolve()
    if not _port_free(args.host, args.port):
        print(
            f"error: port {args.port} on {args.host} is in use: stop what uses it or pick "
            "another (make demo DEMO_PORT=3001, or --port)",
            file=sys.stderr,
        )
        return 1
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    inverters: DemoInverters | None = None
    dev: DagsterDev | None = None
    try:
        manifest = ensure_history(directory)
        if stop.is_set():
            return 130
        inverters = start_demo_inverters(
            udp_host=args.udp_host,
            serial=manifest.device_id,
            model=manifest.model,
            lifetime_kwh=manifest.lifetime_kwh_end or None,
            soc_pct=manifest.soc_end_pct,
            timezone=manifest.timezone,
        )
        for note in inverters.notes:
            print(f"note: {note}")
        home = directory / "dagster_home"
        store = directory / "store"
        write_instance_config(home)
        workspace = write_workspace(home)
        env = pipeline_environment(
            os.environ,
            dagster_home=home,
            data_dir=store,
            inverters=inverters.spec,
            legacy_dir=manifest.legacy_dir,
            price_csv=manifest.price_csv,
            timezone=manifest.timezone,
            poll_seconds=args.poll_seconds,
        )
        dev = DagsterDev(
            port=args.port,
            host=args.host,
            env=env,
            workspace=workspace,
            log_path=directory / "dagster_dev.log",
        ).start()
        print(f"starting dagster dev on {dev.url} (log: {dev.log_path}) ...", flush=True)
        dev.wait_ready(timeout=args.ready_timeout, cancel=stop)
        print(_instructions(dev, manifest, inverters, store), flush=True)
        return _watch(dev, stop, started)
    except KeyboardInterrupt:
        return 0
    except DagsterDevError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping ...", flush=True)
        if dev is not None:
            killed = dev.stop()
            if killed:
                print(f"  dagster dev needed SIGKILL for processes {killed}")
        if inverters is not None:
            inverters.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        print("demo stopped: dagster dev and the emulators are gone", flush=True)
