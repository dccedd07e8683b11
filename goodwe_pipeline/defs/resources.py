"""Resources shared by every domain: the raw store and the warehouse.

Each produces its store's settings object (``RawStoreSettings``,
``WarehouseSettings``), the one the command line builds from the
environment too. Here every setting the environment sets comes in as ``EnvVar``, so
secrets stay out of the UI and logs; an unset optional variable selects the
embedded default.
"""

from __future__ import annotations

import os
from dataclasses import fields

import dagster as dg

from goodwe_pipeline.common.settings import (
    DEFAULT_DATA_DIR,
    RawStoreSettings,
    WarehouseSettings,
    variables,
)
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


def _set_variables(settings_class: type) -> dict[str, dg.EnvVar]:
    """An ``EnvVar`` for each field of ``settings_class`` whose variable is set."""
    return {
        name: dg.EnvVar(variable)
        for name, variable in variables(settings_class).items()
        if os.environ.get(variable)
    }


def _settings(resource: dg.ConfigurableResource, settings_class: type, **overrides):
    """``settings_class`` from the resource's fields of the same names.

    A field still at its class default takes its variable's value when the environment sets
    one: Dagster fills the fields a launch's ``config`` leaves out with their class defaults,
    not with the ``EnvVar`` the definitions gave them, so setting one option of a store in the
    launchpad would otherwise switch it to the embedded default (Parquet, SQLite, ./data)."""
    values = {f.name: getattr(resource, f.name) for f in fields(settings_class)}
    declared = type(resource).model_fields
    unset = [n for n in variables(settings_class) if values[n] == declared[n].default]
    if unset:
        environment = settings_class.from_env()
        values.update({name: getattr(environment, name) for name in unset})
    return settings_class(**{**values, **overrides})


class RawStoreResource(dg.ConfigurableResource):
    """Where readings live: InfluxDB when ``influx_url`` is set, else Parquet in ``data_dir``.
    Each field is the ``RawStoreSettings`` field of its name."""

    data_dir: str = DEFAULT_DATA_DIR
    influx_url: str | None = None
    influx_db: str = RawStoreSettings.influx_db
    influx_rp: str | None = None
    influx_rp_duration: str | None = None
    influx_token: str | None = None
    influx_username: str | None = None
    influx_password: str | None = None
    influx_org: str | None = None
    influx_bucket: str | None = None
    influx_gzip: bool | None = RawStoreSettings.influx_gzip
    create_database: bool = True
    timeout_s: float = RawStoreSettings.timeout_s
    retries: int = RawStoreSettings.retries

    def settings(self, **overrides) -> RawStoreSettings:
        """The store's settings; ``overrides`` replace fields for a caller on a deadline (the
        ``poll_inverters`` sensor's ``timeout_s`` and ``retries``)."""
        return _settings(self, RawStoreSettings, **overrides)

    def get_store(self, **overrides) -> RawStore:
        """The configured store (``overrides``: as for ``settings``)."""
        return open_raw_store(self.settings(**overrides))


class WarehouseResource(dg.ConfigurableResource):
    """Prices, sessions, reports: PostgreSQL when ``url`` is set, else SQLite in ``data_dir``.
    Each field is the ``WarehouseSettings`` field of its name."""

    data_dir: str = DEFAULT_DATA_DIR
    url: str | None = None

    def settings(self) -> WarehouseSettings:
        return _settings(self, WarehouseSettings)

    def get_warehouse(self) -> Warehouse:
        """The warehouse; ``SettingError`` (one line) for a URL that cannot be parsed."""
        return Warehouse.from_settings(self.settings())


def raw_store_from_env() -> RawStoreResource:
    """The resource of the variables the environment sets."""
    return RawStoreResource(**_set_variables(RawStoreSettings))


def warehouse_from_env() -> WarehouseResource:
    """The resource of the variables the environment sets."""
    return WarehouseResource(**_set_variables(WarehouseSettings))


def raw_store_kind() -> str:
    """``influxdb`` or ``parquet``, for asset ``kinds`` at load time."""
    return RawStoreSettings.from_env().kind


def warehouse_kind() -> str:
    """``postgres`` or ``sqlite``, for asset ``kinds`` at load time."""
    return WarehouseSettings.from_env().kind


@dg.definitions
def resources() -> dg.Definitions:
    """The shared stores, and how every job runs: all steps of a run (assets and their checks)
    in the run's own process, one after the other (``in_process_executor``). On a small
    machine that is faster than a process per step, which re-imports the pipeline for each."""
    return dg.Definitions(
        resources={"raw_store": raw_store_from_env(), "warehouse": warehouse_from_env()},
        executor=dg.in_process_executor,
    )
