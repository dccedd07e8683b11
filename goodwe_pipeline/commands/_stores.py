"""The secrets of the stores' settings, kept out of anything a command prints."""

from __future__ import annotations

from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings


def secret_values() -> list[str]:
    """Every secret the environment's store settings hold (for ``checkup.mask``)."""
    return [*RawStoreSettings.from_env().secrets, *WarehouseSettings.from_env().secrets]
