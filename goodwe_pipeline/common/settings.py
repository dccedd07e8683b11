"""Configuration from the environment (every variable is listed in docs/configuration.md), with no Dagster import.

Each store has one settings object, ``RawStoreSettings`` and ``WarehouseSettings``:
its fields name their variables, ``from_env`` reads them for the commands, and the
Dagster resources feed the same fields through ``EnvVar`` (``variables``) and produce
the same object. The rest is for the CLI, the emulator and anything that runs outside
Dagster, and for the few values that must be known when definitions load (the
timezone of the partitions).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from goodwe_pipeline.common.url_credentials import url_secrets

DEFAULT_TIMEZONE = "Europe/Warsaw"
DEFAULT_POLL_SECONDS = 30
MIN_POLL_SECONDS = 10
DEFAULT_HISTORY_START = "2024-01-01"
UDP_PORT = 8899


def env(name: str, default: str | None = None) -> str | None:
    """An environment variable, with empty strings treated as unset."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


class SettingError(ValueError):
    """A setting that is not allowed; the message is one line naming the variable, its
    value and what is allowed."""

    def __init__(self, name: str, raw: str | None, allowed: str):
        self.name = name
        shown = name if raw is None else f"{name}={_shown(raw)}"
        super().__init__(f"{shown} is not allowed: {allowed}")


def _shown(raw: str, limit: int = 60) -> str:
    text = repr(raw)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def timezone() -> str:
    """``GOODWE_TIMEZONE``: an IANA time zone name (default ``Europe/Warsaw``);
    ``SettingError`` for anything else."""
    raw = env("GOODWE_TIMEZONE")
    if raw is None:
        return DEFAULT_TIMEZONE
    try:
        ZoneInfo(raw)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, OSError alike
        raise SettingError(
            "GOODWE_TIMEZONE", raw, "an IANA time zone name such as Europe/Warsaw or UTC"
        ) from None
    return raw


def history_start() -> str:
    """First daily partition (``GOODWE_HISTORY_START``): a date ``YYYY-MM-DD`` from
    1970-01-01 to today; ``SettingError`` for anything else."""
    raw = env("GOODWE_HISTORY_START")
    if raw is None:
        return DEFAULT_HISTORY_START
    allowed = "a date YYYY-MM-DD between 1970-01-01 and today, e.g. 2024-01-01"
    try:
        day = date.fromisoformat(raw) if _ISO_DATE.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None or not date(1970, 1, 1) <= day <= date.today():
        raise SettingError("GOODWE_HISTORY_START", raw, allowed)
    return raw


DEFAULT_DATA_DIR = "./data"


def data_dir() -> Path:
    return Path(env("GOODWE_DATA_DIR") or DEFAULT_DATA_DIR)


POSITIVE_NUMBERS: dict[str, str] = {
    "GOODWE_INVERTER_TIMEOUT_S": "a number of seconds above 0, e.g. 1.5",
    "GOODWE_BATTERY_CAPACITY_KWH": "a number of kWh above 0, e.g. 10",
}
"""Settings that are a positive number, with what is allowed."""


def positive_number(name: str, default: float | None) -> float | None:
    """A ``POSITIVE_NUMBERS`` setting, ``default`` when unset; ``SettingError`` when it is not
    a finite number above 0."""
    raw = env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise SettingError(name, raw, POSITIVE_NUMBERS[name])
    return value


def _variable(name: str, default: Any = None, *, secret: bool = False) -> Any:
    """A settings field read from the environment variable ``name`` (``default`` when unset)."""
    return field(default=default, repr=not secret, metadata={"env": name})


def variables(settings_class: type) -> dict[str, str]:
    """Field name -> environment variable, for the fields of ``settings_class`` the environment
    sets (``RawStoreSettings``, ``WarehouseSettings``): the Dagster resources use it for
    ``EnvVar``, ``from_env`` for the values."""
    return {f.name: f.metadata["env"] for f in fields(settings_class) if "env" in f.metadata}


def _from_env(settings_class: type) -> dict[str, str]:
    return {
        name: value
        for name, variable in variables(settings_class).items()
        if (value := env(variable)) is not None
    }


@dataclass(frozen=True)
class RawStoreSettings:
    """Everything the raw store is opened with, secrets included (``repr`` leaves them out).

    InfluxDB when ``influx_url`` is set (with ``influx_org`` its v2 API: bucket
    ``influx_bucket``, default ``influx_db``, and ``influx_token``), else Parquet files under
    ``data_dir/raw``. ``influx_rp_duration`` (e.g. ``400d``) is the retention of a retention
    policy (1.x) or bucket (v2) the pipeline creates. ``create_database`` is not read from the
    environment: writers (the Dagster resource, ``restore``) create the database, probes
    (``doctor``) do not. ``timeout_s`` (per request) and ``retries`` (after a connection
    error or 5xx answer) bound how long a call to InfluxDB may take.
    """

    data_dir: Path = _variable("GOODWE_DATA_DIR", Path(DEFAULT_DATA_DIR))
    influx_url: str | None = _variable("GOODWE_INFLUX_URL", secret=True)
    """May carry a user name and password."""
    influx_db: str = _variable("GOODWE_INFLUX_DB", "goodwe")
    influx_rp: str | None = _variable("GOODWE_INFLUX_RP")
    influx_rp_duration: str | None = _variable("GOODWE_INFLUX_RP_DURATION")
    influx_token: str | None = _variable("GOODWE_INFLUX_TOKEN", secret=True)
    influx_username: str | None = _variable("GOODWE_INFLUX_USERNAME")
    influx_password: str | None = _variable("GOODWE_INFLUX_PASSWORD", secret=True)
    influx_org: str | None = _variable("GOODWE_INFLUX_ORG")
    influx_bucket: str | None = _variable("GOODWE_INFLUX_BUCKET")
    influx_gzip: bool | None = None
    """Compress what is sent to InfluxDB and ask for compressed answers; None: unless the
    server is on this machine (a loopback address)."""
    create_database: bool = False
    timeout_s: float = 30.0
    retries: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    @classmethod
    def from_env(cls, **others: Any) -> RawStoreSettings:
        """The settings the environment gives; ``others`` for those it does not
        (``create_database``, ``timeout_s``, ...)."""
        return cls(**_from_env(cls), **others)

    @property
    def kind(self) -> str:
        return "influxdb" if self.influx_url else "parquet"

    @property
    def parquet_root(self) -> Path:
        return self.data_dir / "raw"

    @property
    def secrets(self) -> list[str]:
        """The token and password, also those inside the URL, to mask in anything reported."""
        found = [self.influx_token, self.influx_password, *url_secrets(self.influx_url)]
        return [s for s in dict.fromkeys(found) if s]


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the warehouse is: ``url`` (PostgreSQL; ``repr`` leaves it out, it may hold a
    password), else a SQLite file in ``data_dir``."""

    data_dir: Path = _variable("GOODWE_DATA_DIR", Path(DEFAULT_DATA_DIR))
    url: str | None = _variable("GOODWE_WAREHOUSE_URL", secret=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    @classmethod
    def from_env(cls) -> WarehouseSettings:
        return cls(**_from_env(cls))

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file used when no ``url`` is set."""
        return self.data_dir / "warehouse.sqlite"

    @property
    def kind(self) -> str:
        return "sqlite" if not self.url or self.url.startswith("sqlite") else "postgres"

    @property
    def secrets(self) -> list[str]:
        """The URL's passwords, to mask in anything reported; the whole URL when it does not
        parse (a password may be anywhere in it)."""
        if not self.url:
            return []
        try:
            check_warehouse_url(self.url)
        except SettingError:
            return [self.url]
        return url_secrets(self.url)


def warehouse_url() -> str | None:
    """``GOODWE_WAREHOUSE_URL``: unset, or a database URL SQLAlchemy can parse
    (``check_warehouse_url``)."""
    raw = env("GOODWE_WAREHOUSE_URL")
    return None if raw is None else check_warehouse_url(raw)


def check_warehouse_url(raw: str) -> str:
    """``raw`` when SQLAlchemy can parse it as a database URL; ``SettingError`` naming
    ``GOODWE_WAREHOUSE_URL`` otherwise. The value is never in the message: it may hold a
    password."""
    import sqlalchemy as sa  # only for the URL parser

    try:
        sa.engine.make_url(raw)
    except Exception as exc:  # noqa: BLE001 - ValueError (a port), ArgumentError (the form)
        # Never the parser's message: it may quote the URL, password and all.
        reason = "its port is not a number" if isinstance(exc, ValueError) else "it is not a URL"
        raise SettingError(
            "GOODWE_WAREHOUSE_URL",
            None,
            f"{reason}; allowed: a database URL like postgresql+psycopg2://user@host:5432/goodwe "
            "(the value is not shown: it may hold a password)",
        ) from None
    return raw


POLL_SECONDS_ALLOWED = (
    f"a whole number of seconds, at least 1 (below {MIN_POLL_SECONDS} counts as "
    f"{MIN_POLL_SECONDS}); default {DEFAULT_POLL_SECONDS}"
)


def poll_seconds() -> int:
    """``GOODWE_POLL_SECONDS``: a whole number of seconds; 1 to 9 are raised to
    ``MIN_POLL_SECONDS`` (``poll_seconds_notice`` says so); 0, negative or not a whole number
    raise ``SettingError``."""
    raw = env("GOODWE_POLL_SECONDS")
    if raw is None:
        return DEFAULT_POLL_SECONDS
    try:
        seconds = int(raw.strip())
    except ValueError:
        raise SettingError("GOODWE_POLL_SECONDS", raw, POLL_SECONDS_ALLOWED) from None
    if seconds < 1:
        raise SettingError("GOODWE_POLL_SECONDS", raw, POLL_SECONDS_ALLOWED)
    return max(seconds, MIN_POLL_SECONDS)


def poll_seconds_notice() -> str | None:
    """The stated message when ``GOODWE_POLL_SECONDS`` is raised to the minimum."""
    raw = env("GOODWE_POLL_SECONDS")
    try:
        if raw is None or int(raw.strip()) >= MIN_POLL_SECONDS or int(raw.strip()) < 1:
            return None
    except ValueError:
        return None
    return f"GOODWE_POLL_SECONDS={raw.strip()} is below the minimum: polling every {MIN_POLL_SECONDS} s"


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


VALIDATED: dict[str, Callable[[], Any]] = {
    "GOODWE_TIMEZONE": timezone,
    "GOODWE_HISTORY_START": history_start,
    "GOODWE_POLL_SECONDS": poll_seconds,
    "GOODWE_WAREHOUSE_URL": warehouse_url,
    **{name: partial(positive_number, name, None) for name in POSITIVE_NUMBERS},
}
"""Settings with a validator: those definitions need when they load, and the warehouse URL."""

LOAD_DEFAULTS: dict[str, Any] = {
    "GOODWE_TIMEZONE": DEFAULT_TIMEZONE,
    "GOODWE_HISTORY_START": DEFAULT_HISTORY_START,
    "GOODWE_POLL_SECONDS": DEFAULT_POLL_SECONDS,
    "GOODWE_WAREHOUSE_URL": None,
}


def for_loading(name: str, default: Any = None) -> Any:
    """The setting's value for building definitions, or its default (``LOAD_DEFAULTS``, else
    ``default``) when it is unset or not allowed: the code location loads, and the parts that
    depend on it report the error (``require``) when they run."""
    try:
        value = VALIDATED[name]()
    except SettingError:
        value = None
    return LOAD_DEFAULTS.get(name, default) if value is None else value


def require(*names: str) -> None:
    """Raise the ``SettingError`` of the first of these settings that is not allowed."""
    for name in names:
        VALIDATED[name]()


def setting_problems() -> list[str]:
    """One line per setting that is not allowed (for ``doctor``)."""
    problems = []
    for validate in VALIDATED.values():
        try:
            validate()
        except SettingError as exc:
            problems.append(str(exc))
    return problems
