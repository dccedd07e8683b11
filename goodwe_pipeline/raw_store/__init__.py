"""Raw store: canonical readings in InfluxDB (production) or Parquet files (embedded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goodwe_pipeline.raw_store.base import Health, RawStore, StoreUnavailableError

__all__ = ["Health", "RawStore", "StoreUnavailableError", "open_raw_store"]


def open_raw_store(
    *,
    data_dir: str | Path,
    influx_url: str | None = None,
    influx_db: str = "goodwe",
    influx_rp: str | None = None,
    influx_token: str | None = None,
    influx_username: str | None = None,
    influx_password: str | None = None,
    create_database: bool = False,
    influx_rp_duration: str | None = None,
    influx_gzip: bool = True,
    timeout_s: float | None = None,
    retries: int | None = None,
) -> RawStore:
    """InfluxDB when ``influx_url`` is set, else Parquet files under ``data_dir/raw``.

    ``influx_rp_duration`` (e.g. ``400d``) is the duration of ``influx_rp`` when
    the pipeline creates it (``create_database`` on InfluxDB 1.x; default
    infinite); ``influx_gzip=False`` sends uncompressed writes. ``timeout_s``
    (per request) and ``retries`` (after a connection error or 5xx) bound how
    long a call to a network store may take; None keeps the store's defaults.
    The Parquet store has neither.
    """
    if influx_url:
        from goodwe_pipeline.raw_store.influx import InfluxRawStore

        patience: dict[str, Any] = {}
        if timeout_s is not None:
            patience["timeout"] = timeout_s
        if retries is not None:
            patience["retries"] = retries
        return InfluxRawStore(
            url=influx_url,
            database=influx_db,
            retention_policy=influx_rp,
            token=influx_token,
            username=influx_username,
            password=influx_password,
            create_database=create_database,
            retention_duration=influx_rp_duration,
            gzip=influx_gzip,
            **patience,
        )
    from goodwe_pipeline.raw_store.parquet import ParquetRawStore

    return ParquetRawStore(Path(data_dir) / "raw")
