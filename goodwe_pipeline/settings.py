"""Configuration from the environment (the table in DESIGN.md), with no Dagster import.

Dagster resources read the same variables through ``EnvVar``; this module is
for the CLI, the emulator and anything that runs outside Dagster, and for the
few values that must be known when definitions load (the timezone of the
partitions).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEZONE = "Europe/Warsaw"
DEFAULT_POLL_SECONDS = 30
MIN_POLL_SECONDS = 10
DEFAULT_HISTORY_START = "2024-01-01"
UDP_PORT = 8899


def env(name: str, default: str | None = None) -> str | None:
    """An environment variable, with empty strings treated as unset."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def timezone() -> str:
    return env("GOODWE_TIMEZONE", DEFAULT_TIMEZONE) or DEFAULT_TIMEZONE


def history_start() -> str:
    """First daily partition (``GOODWE_HISTORY_START``, ISO date)."""
    return env("GOODWE_HISTORY_START", DEFAULT_HISTORY_START) or DEFAULT_HISTORY_START


def data_dir() -> Path:
    return Path(env("GOODWE_DATA_DIR", "./data") or "./data")


def poll_seconds() -> int:
    raw = env("GOODWE_POLL_SECONDS")
    seconds = int(raw) if raw else DEFAULT_POLL_SECONDS
    return max(seconds, MIN_POLL_SECONDS)


@dataclass(frozen=True)
class InverterAddress:
    """One entry of ``GOODWE_INVERTERS``: ``host[:port][/family]``."""

    host: str
    port: int = UDP_PORT
    family: str | None = None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def parse_inverters(spec: str | None) -> list[InverterAddress]:
    """Parse ``192.168.1.50/ET,192.168.1.51:502/ET`` into addresses.

    Raises ``ValueError`` naming the bad entry.
    """
    addresses: list[InverterAddress] = []
    for raw in (spec or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        family: str | None = None
        if "/" in entry:
            entry, family = entry.split("/", 1)
            family = family.strip().upper() or None
        host, port = entry, UDP_PORT
        if entry.startswith("[") and "]" in entry:
            host, _, rest = entry[1:].partition("]")
            if rest.startswith(":"):
                port = _parse_port(rest[1:], raw)
        elif entry.count(":") == 1:
            host, port_text = entry.split(":")
            port = _parse_port(port_text, raw)
        host = host.strip()
        if not host:
            raise ValueError(f"GOODWE_INVERTERS entry {raw.strip()!r} has no host")
        addresses.append(InverterAddress(host=host, port=port, family=family))
    return addresses


def _parse_port(text: str, raw: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(
            f"GOODWE_INVERTERS entry {raw.strip()!r}: port {text!r} is not a number"
        ) from None
    if not 0 < port < 65536:
        raise ValueError(f"GOODWE_INVERTERS entry {raw.strip()!r}: port {port} out of range")
    return port
