"""Opening the stores from the environment, for commands that run outside Dagster."""

from __future__ import annotations

from goodwe_pipeline.common import settings
from goodwe_pipeline.raw_store import RawStore, open_raw_store
from goodwe_pipeline.warehouse import Warehouse, warehouse_secrets


def raw_store_from_env(*, create_database: bool = False) -> RawStore:
    """The raw store ``settings.RAW_STORE_ENV`` describes; ``create_database`` for writers."""
    return open_raw_store(**settings.raw_store_options(), create_database=create_database)


def warehouse_from_env() -> Warehouse:
    """The warehouse; ``settings.SettingError`` (one line) for a URL that cannot be parsed."""
    settings.warehouse_url()
    return Warehouse.from_settings(**settings.warehouse_options())


def secret_values() -> list[str]:
    """Every secret the environment holds, to keep them out of anything printed."""
    secrets = [settings.env(name) for name in settings.SECRET_ENV]
    secrets += warehouse_secrets(settings.env("GOODWE_WAREHOUSE_URL"))
    return [s for s in secrets if s]


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
