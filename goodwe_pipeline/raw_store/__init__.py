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
    influx_org: str | None = None,
    influx_bucket: str | None = None,
    create_database: bool = False,
    influx_rp_duration: str | None = None,
    influx_gzip: bool = True,
    timeout_s: float | None = None,
    retries: int | None = None,
) -> RawStore:
    """InfluxDB when ``influx_url`` is set, else Parquet files under ``data_dir/raw``.

    With ``influx_org`` the v2 API (``influxdb-client``): bucket ``influx_bucket``
    (default: ``influx_db``), ``influx_token``, and ``influx_rp_duration`` as the
    retention of a bucket the pipeline creates (default 30 days). Without it the
    v1-compatible API.

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
        if influx_org:
            from goodwe_pipeline.raw_store.influx_v2 import InfluxV2RawStore

            if influx_username or influx_password:
                raise ValueError(
                    "GOODWE_INFLUX_ORG selects the v2 API, which takes GOODWE_INFLUX_TOKEN, "
                    "not GOODWE_INFLUX_USERNAME/PASSWORD"
                )
            if influx_rp:
                raise ValueError(
                    "GOODWE_INFLUX_RP names a 1.x retention policy; with GOODWE_INFLUX_ORG the "
                    "bucket's retention is GOODWE_INFLUX_RP_DURATION: unset GOODWE_INFLUX_RP"
                )
            return InfluxV2RawStore(
                url=influx_url,
                bucket=influx_bucket or influx_db,
                org=influx_org,
                token=influx_token or "",
                create_bucket=create_database,
                retention_duration=influx_rp_duration,
                gzip=influx_gzip,
                **patience,
            )
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
