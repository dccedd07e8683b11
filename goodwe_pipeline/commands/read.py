"""``goodwe-pipeline read HOST[:PORT] [--family F]``: one canonical reading as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from datetime import datetime
from typing import Any

from goodwe_pipeline.common import settings
from goodwe_pipeline.ingest.inverters import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    FAMILIES,
    InverterPoller,
    PollResult,
)

HELP = "Read one canonical reading from an inverter and print it as JSON."
SIGNS = (
    "signs: grid_power_w + export to the grid, - import from it; battery_power_w + discharge, "
    "- charge; pv_power_w and load_power_w are never negative. Times are UTC; powers in W, "
    "energies in kWh, charge and health in %."
)
"""The sign conventions of the canonical reading, printed with every reading and in ``--help``."""
EPILOG = (
    SIGNS + " The JSON goes to standard output, this note to standard error. Exit status: 0 "
    "a reading was printed, 1 the inverter could not be read (the message says what to "
    "check), 2 the address is malformed."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "address",
        metavar="HOST[:PORT]",
        help="inverter address; port 8899 (the default) talks UDP, any other port Modbus/TCP "
        "(502 for LAN/Wi-Fi kit 2.0); may end in /FAMILY like GOODWE_INVERTERS entries",
    )
    parser.add_argument(
        "--family",
        type=str.upper,
        choices=FAMILIES,
        help="inverter family; auto-detected when left out (slower: up to ~15 s over UDP)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per attempt"
    )
    parser.add_argument(
        "--retries", type=int, default=DEFAULT_RETRIES, help="extra attempts per request"
    )
    parser.add_argument(
        "--timezone",
        default=settings.for_loading("GOODWE_TIMEZONE"),
        help="timezone of the inverter's clock, for inverter_clock_skew_s (GOODWE_TIMEZONE)",
    )


def reading_json(reading: dict[str, Any]) -> str:
    """The reading as JSON: times in ISO 8601, unknown values (NaN) as null."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    return json.dumps({k: plain(v) for k, v in reading.items()}, indent=2, allow_nan=False)


async def _read_once(poller: InverterPoller, address: settings.InverterAddress) -> PollResult:
    try:
        return await poller.read(address)
    finally:
        await poller.close()


def run(args: argparse.Namespace) -> int:
    try:
        addresses = settings.parse_inverters(args.address)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if len(addresses) != 1:
        print("error: give exactly one HOST[:PORT]", file=sys.stderr)
        return 2
    address = addresses[0]
    if args.family:
        address = settings.InverterAddress(address.host, address.port, args.family)
    poller = InverterPoller(
        timeout_s=args.timeout, retries=args.retries, budget_s=120, timezone=args.timezone
    )
    result = asyncio.run(_read_once(poller, address))
    if result.reading is None:
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    print(reading_json(result.reading))
    print(SIGNS, file=sys.stderr)
    return 0
