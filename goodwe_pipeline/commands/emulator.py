"""``goodwe-pipeline emulator``: emulated GoodWe ET inverters on UDP or Modbus/TCP, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from goodwe_pipeline.common import settings
from goodwe_pipeline.emulator import (
    DEFAULT_MODEL,
    DEFAULT_RATED_POWER,
    DEFAULT_SERIAL,
    Emulator,
    EmulatorConfig,
    Faults,
    HouseholdConfig,
    configs_side_by_side,
)

HELP = "Run emulated GoodWe ET hybrid inverters (UDP 8899 or Modbus/TCP) until Ctrl-C."


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where")
    where.add_argument("--host", default="127.0.0.1", help="address to listen on")
    where.add_argument(
        "--port",
        type=int,
        default=settings.UDP_PORT,
        help="port; 8899 means UDP (as the goodwe library decides), any other Modbus/TCP; "
        "0 picks a free TCP port",
    )
    transport = where.add_mutually_exclusive_group()
    transport.add_argument("--udp", action="store_true", help="force UDP")
    transport.add_argument("--tcp", action="store_true", help="force Modbus/TCP")
    where.add_argument(
        "--count",
        type=int,
        default=1,
        help="inverters side by side: TCP on consecutive ports, UDP on consecutive loopback "
        "addresses (127.0.0.2, 127.0.0.3, ...); serials numbered on",
    )
    device = parser.add_argument_group("device")
    device.add_argument("--serial", default=DEFAULT_SERIAL, help="16-character serial number")
    device.add_argument("--model", default=DEFAULT_MODEL)
    device.add_argument("--rated-power", type=int, default=DEFAULT_RATED_POWER, help="W")
    house = parser.add_argument_group("household")
    house.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per second (1440: a day in a minute)",
    )
    house.add_argument(
        "--start", type=datetime.fromisoformat, help="simulated start time, ISO 8601 (default now)"
    )
    house.add_argument(
        "--timezone",
        default=settings.for_loading("GOODWE_TIMEZONE"),
        help="the inverter's local time",
    )
    house.add_argument("--pv-peak-w", type=float, help="PV peak power (default 0.9 x rated)")
    house.add_argument("--battery-kwh", type=float, default=10.0, help="0 for no battery")
    house.add_argument("--seed", type=int, default=1)
    faults = parser.add_argument_group("faults")
    faults.add_argument("--latency", type=float, default=0.0, help="normal reply latency, s")
    faults.add_argument("--drop", type=_fraction, default=0.0, help="fraction of requests ignored")
    faults.add_argument("--delay", type=float, default=0.0, help="extra reply delay, s")
    faults.add_argument(
        "--delay-fraction", type=_fraction, default=1.0, help="fraction of replies delayed"
    )
    faults.add_argument(
        "--split", type=_fraction, default=0.0, help="fraction of replies sent in two parts"
    )
    faults.add_argument(
        "--corrupt",
        type=_fraction,
        default=0.0,
        help="fraction of replies corrupted (bad CRC over UDP, bad byte count over TCP)",
    )
    faults.add_argument("--silent", action="store_true", help="answer nothing (night, dead dongle)")
    faults.add_argument(
        "--reject",
        type=int,
        action="append",
        default=[],
        metavar="REGISTER",
        help="answer reads starting at REGISTER with exception 2 (e.g. 37000: no battery block)",
    )


def build_emulators(args: argparse.Namespace) -> list[Emulator]:
    udp = args.udp or (not args.tcp and args.port == settings.UDP_PORT)
    household = HouseholdConfig(
        pv_peak_w=args.pv_peak_w if args.pv_peak_w is not None else 0.9 * args.rated_power,
        battery_kwh=args.battery_kwh,
        battery_max_w=0.5 * args.rated_power,
        timezone=args.timezone,
        seed=args.seed,
    )
    start = args.start
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(args.timezone))
    base = EmulatorConfig(
        host=args.host,
        udp_port=args.port if udp else None,
        tcp_port=None if udp else args.port,
        serial=args.serial,
        model=args.model,
        rated_power=args.rated_power,
        speed=args.speed,
        start=start,
        household=household,
        seed=args.seed,
    )
    faults = Faults(
        drop=args.drop,
        delay_s=args.delay,
        delay_fraction=args.delay_fraction,
        split=args.split,
        corrupt=args.corrupt,
        silent=args.silent,
        reject=frozenset(args.reject),
        latency_s=args.latency,
    )
    emulators = []
    for config in configs_side_by_side(base, args.count):
        config = replace(config, household=replace(household, seed=config.seed))
        emulators.append(Emulator(config, faults=replace(faults)))
    return emulators


async def serve(emulators: list[Emulator]) -> None:
    """Start every emulator, print where each listens, and run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = []
    try:
        for emulator in emulators:
            await emulator.start()
            started.append(emulator)
            print(f"listening: {emulator.describe()}", flush=True)
        await stop.wait()
    finally:
        for emulator in started:
            await emulator.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        print("error: --count must be at least 1", file=sys.stderr)
        return 2
    try:
        emulators = build_emulators(args)
        asyncio.run(serve(emulators))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("emulator stopped", flush=True)
    return 0
