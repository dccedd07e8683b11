"""The pipeline configuration a report was computed with, free of secrets.

Built from an allow-list: only settings that shape the figures and carry no
credential are recorded (never tokens, passwords, user names or URLs with
credentials). The version is a short hash of the content, so each distinct
configuration is stored once in ``system_configs`` and a ``daily_energy`` row
names the one it was computed with (``config_version``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from goodwe_pipeline.common import settings
from goodwe_pipeline.raw_store.influx import split_url

CONFIG_NAME = "pipeline"
RECORDED_VARIABLES: tuple[str, ...] = (
    "GOODWE_TIMEZONE",
    "GOODWE_HISTORY_START",
    "GOODWE_POLL_SECONDS",
    "GOODWE_PRICE_SOURCE",
    "GOODWE_TARIFF_FILE",
    "GOODWE_RATED_POWER_W",
    "GOODWE_BATTERY_CAPACITY_KWH",
    "GOODWE_INFLUX_DB",
    "GOODWE_INFLUX_RP",
    "GOODWE_INFLUX_ORG",
    "GOODWE_INFLUX_BUCKET",
)


def without_credentials(url: str) -> str:
    """``url`` with any user name, password, query and fragment removed; a URL that does
    not parse is recorded as such, with the parser's message (which quotes none of it)."""
    try:
        return split_url(url).url
    except ValueError as exc:
        return f"invalid: {exc}"


def pipeline_config(
    *, raw_store_kind: str, warehouse_dialect: str, report: Mapping[str, Any]
) -> dict[str, Any]:
    """The recorded configuration: allowed environment settings, store kinds, report rules."""
    environment = {name: settings.env(name) for name in RECORDED_VARIABLES}
    influx_url = settings.env("GOODWE_INFLUX_URL")
    return {
        "environment": {k: v for k, v in environment.items() if v is not None},
        "influx_url": without_credentials(influx_url) if influx_url else None,
        "raw_store": raw_store_kind,
        "warehouse": warehouse_dialect,
        "timezone": settings.timezone(),
        "report": dict(report),
    }
