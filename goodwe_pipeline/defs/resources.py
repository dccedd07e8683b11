"""Resources shared by every domain: the raw store and the warehouse.

Each setting comes from the environment (``EnvVar``, so secrets stay out of the
UI and logs); an unset optional variable selects the embedded default. Which
variable feeds which field is ``settings.RAW_STORE_ENV`` / ``WAREHOUSE_ENV``,
the mapping the command line uses too.
"""

from __future__ import annotations

import os

import dagster as dg

from goodwe_pipeline.common import settings
from goodwe_pipeline.raw_store import RawStore, open_raw_store
from goodwe_pipeline.warehouse import Warehouse


def env_or(name: str, default: str | None = None) -> str | dg.EnvVar | None:
    """``EnvVar(name)`` when the variable is set, else ``default``.

    ``EnvVar`` of an unset variable fails at execution; optional settings must
    fall back to their embedded default instead.
    """
    return dg.EnvVar(name) if os.environ.get(name) else default


def env_int_or(name: str, default: int) -> int:
    """``EnvVar.int(name)`` when the variable is set, else ``default``."""
    return dg.EnvVar.int(name) if os.environ.get(name) else default


class RawStoreResource(dg.ConfigurableResource):
    """Where readings live: InfluxDB when ``influx_url`` is set, else Parquet in ``data_dir``."""

    data_dir: str = "./data"
    influx_url: str | None = None
    influx_db: str = "goodwe"
    influx_rp: str | None = None
    influx_token: str | None = None
    influx_username: str | None = None
    influx_password: str | None = None
    influx_org: str | None = None
    """Set: InfluxDB's v2 API (2.x/Cloud) through ``influxdb-client``, with a token."""
    influx_bucket: str | None = None
    """The v2 bucket (default: ``influx_db``)."""
    influx_rp_duration: str | None = None
    """Duration of ``influx_rp`` (1.x) or of the bucket (v2; default 30d) when the pipeline
    creates it, e.g. ``400d``."""
    influx_gzip: bool = True
    create_database: bool = True
    timeout_s: float | None = None
    """Seconds per request to InfluxDB (None: the store's default, 30 s)."""
    retries: int | None = None
    """Attempts after a connection error or 5xx answer (None: the store's default, 3)."""

    @property
    def kind(self) -> str:
        return "influxdb" if self.influx_url else "parquet"

    def get_store(self, *, timeout_s: float | None = None, retries: int | None = None) -> RawStore:
        """The configured store; ``timeout_s`` / ``retries`` override the resource's for a
        caller on a deadline (the ``poll_inverters`` sensor)."""
        return open_raw_store(
            data_dir=self.data_dir,
            influx_url=self.influx_url,
            influx_db=self.influx_db,
            influx_rp=self.influx_rp,
            influx_token=self.influx_token,
            influx_username=self.influx_username,
            influx_password=self.influx_password,
            influx_org=self.influx_org,
            influx_bucket=self.influx_bucket,
            create_database=self.create_database,
            influx_rp_duration=self.influx_rp_duration,
            influx_gzip=self.influx_gzip,
            timeout_s=self.timeout_s if timeout_s is None else timeout_s,
            retries=self.retries if retries is None else retries,
        )


class WarehouseResource(dg.ConfigurableResource):
    """Prices, sessions, reports: PostgreSQL when ``url`` is set, else SQLite in ``data_dir``."""

    data_dir: str = "./data"
    url: str | None = None

    @property
    def kind(self) -> str:
        return "sqlite" if not self.url or self.url.startswith("sqlite") else "postgres"

    def get_warehouse(self) -> Warehouse:
        """The warehouse; ``settings.SettingError`` (one line) for a URL that cannot be parsed."""
        url = settings.check_warehouse_url(self.url) if self.url else None
        return Warehouse.from_settings(url=url, data_dir=self.data_dir)


def raw_store_from_env() -> RawStoreResource:
    return RawStoreResource(
        **{key: env_or(name, default) for key, (name, default) in settings.RAW_STORE_ENV.items()}
    )


def warehouse_from_env() -> WarehouseResource:
    return WarehouseResource(
        **{key: env_or(name, default) for key, (name, default) in settings.WAREHOUSE_ENV.items()}
    )


def raw_store_kind() -> str:
    """``influxdb`` or ``parquet``, for asset ``kinds`` at load time."""
    return "influxdb" if os.environ.get("GOODWE_INFLUX_URL") else "parquet"


def warehouse_kind() -> str:
    url = os.environ.get("GOODWE_WAREHOUSE_URL") or ""
    return "postgres" if url.startswith("postgres") else "sqlite"


@dg.definitions
def resources() -> dg.Definitions:
    """The shared stores, and how every job runs: all steps of a run (assets and their checks)
    in the run's own process, one after the other (``in_process_executor``). On a small
    machine that is faster than a process per step, which re-imports the pipeline for each."""
    return dg.Definitions(
        resources={"raw_store": raw_store_from_env(), "warehouse": warehouse_from_env()},
        executor=dg.in_process_executor,
    )
