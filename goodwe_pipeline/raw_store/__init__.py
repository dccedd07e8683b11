"""Raw store: canonical readings in InfluxDB (production) or Parquet files (embedded)."""

from __future__ import annotations

from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.raw_store.base import Health, RawStore, StoreUnavailableError

__all__ = ["Health", "RawStore", "StoreUnavailableError", "open_raw_store"]


def open_raw_store(settings: RawStoreSettings) -> RawStore:
    """InfluxDB when ``settings.influx_url`` is set (its v2 API with ``influx_org``, else the
    v1-compatible API), else Parquet files under ``settings.parquet_root``."""
    if settings.influx_url and settings.influx_org:
        from goodwe_pipeline.raw_store.influx_v2 import InfluxV2RawStore

        return InfluxV2RawStore(settings)
    if settings.influx_url:
        from goodwe_pipeline.raw_store.influx import InfluxRawStore

        return InfluxRawStore(settings)
    from goodwe_pipeline.raw_store.parquet import ParquetRawStore

    return ParquetRawStore(settings.parquet_root)
