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
from typing import Any

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


def env_float(name: str, default: float) -> float:
    """A number from the environment; ``ValueError`` names the variable when it is not one."""
    raw = env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


RAW_STORE_ENV: dict[str, tuple[str, str | None]] = {
    "data_dir": ("GOODWE_DATA_DIR", "./data"),
    "influx_url": ("GOODWE_INFLUX_URL", None),
    "influx_db": ("GOODWE_INFLUX_DB", "goodwe"),
    "influx_rp": ("GOODWE_INFLUX_RP", None),
    "influx_rp_duration": ("GOODWE_INFLUX_RP_DURATION", None),
    "influx_token": ("GOODWE_INFLUX_TOKEN", None),
    "influx_username": ("GOODWE_INFLUX_USERNAME", None),
    "influx_password": ("GOODWE_INFLUX_PASSWORD", None),
    "influx_org": ("GOODWE_INFLUX_ORG", None),
    "influx_bucket": ("GOODWE_INFLUX_BUCKET", None),
}
"""The one mapping from the environment to the raw store: ``open_raw_store`` keyword (also
the ``RawStoreResource`` field) -> (variable, value when unset). ``create_database`` is not
a setting: writers (the Dagster resource, ``restore``) create it, probes (``doctor``) do not."""

WAREHOUSE_ENV: dict[str, tuple[str, str | None]] = {
    "data_dir": ("GOODWE_DATA_DIR", "./data"),
    "url": ("GOODWE_WAREHOUSE_URL", None),
}
"""``Warehouse.from_settings`` keyword (also the ``WarehouseResource`` field) -> (variable,
value when unset)."""

SECRET_ENV = ("GOODWE_INFLUX_TOKEN", "GOODWE_INFLUX_PASSWORD")
"""Variables holding secrets outright (``GOODWE_WAREHOUSE_URL`` may hold a password too)."""


def raw_store_options() -> dict[str, Any]:
    """``open_raw_store`` keywords from the environment, for code that runs outside Dagster."""
    return {key: env(name, default) for key, (name, default) in RAW_STORE_ENV.items()}


def warehouse_options() -> dict[str, Any]:
    """``Warehouse.from_settings`` keywords from the environment, outside Dagster."""
    return {key: env(name, default) for key, (name, default) in WAREHOUSE_ENV.items()}


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
