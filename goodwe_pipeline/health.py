"""Health of what the pipeline stores into: raw store, warehouse, spool, disk, readings.

Used by the ``storage_health`` sensor and ``goodwe-pipeline doctor``. Each probe
returns a ``ComponentHealth`` and never raises: a failure is a result.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.spool import Spool
from goodwe_pipeline.warehouse import Warehouse

SPOOL_DIR = "spool"
MIN_FREE_BYTES = 1_000_000_000
"""Below 1 GB free the data dir is reported unhealthy: the archive and spool need room."""
LAST_READING_LOOKBACK = timedelta(hours=1)
MIN_STALE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class ComponentHealth:
    component: str
    ok: bool
    latency_ms: float | None
    detail: str
    value: float | None = None
    """The component's number: free bytes, backlog rows, reading age in seconds."""

    def row(self, at: datetime) -> dict[str, object]:
        """A ``storage_health`` table row."""
        return {
            "time": at,
            "component": self.component,
            "ok": self.ok,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
        }


def _timed(component: str, probe: Callable[[], ComponentHealth]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        return probe()
    except Exception as exc:  # a probe reports every failure as a result
        elapsed = (time.perf_counter() - started) * 1000
        return ComponentHealth(component, False, elapsed, f"{type(exc).__name__}: {exc}")


def raw_store_health(store: RawStore) -> ComponentHealth:
    """The raw store answers (component ``influxdb`` or ``parquet``)."""

    def probe() -> ComponentHealth:
        health = store.health()
        return ComponentHealth(store.kind, health.ok, health.latency_ms, health.detail)

    return _timed(store.kind, probe)


def warehouse_health(warehouse: Warehouse) -> ComponentHealth:
    def probe() -> ComponentHealth:
        health = warehouse.health()
        return ComponentHealth("warehouse", health.ok, health.latency_ms, health.detail)

    return _timed("warehouse", probe)


def spool_health(data_dir: str | Path) -> ComponentHealth:
    """Readings waiting in the spool because the raw store did not take them yet."""

    def probe() -> ComponentHealth:
        started = time.perf_counter()
        spool = Spool(Path(data_dir) / SPOOL_DIR)
        rows = spool.backlog_rows()
        elapsed = (time.perf_counter() - started) * 1000
        if rows == 0:
            return ComponentHealth("spool", True, elapsed, "empty", 0.0)
        oldest = spool.oldest()
        since = f" since {oldest.isoformat(timespec='seconds')}" if oldest else ""
        detail = f"{rows} readings waiting for the raw store{since}"
        return ComponentHealth("spool", False, elapsed, detail, float(rows))

    return _timed("spool", probe)


def disk_health(data_dir: str | Path, min_free_bytes: int = MIN_FREE_BYTES) -> ComponentHealth:
    """Free bytes of the file system holding the data dir (``detail`` is the number)."""

    def probe() -> ComponentHealth:
        started = time.perf_counter()
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(path).free
        elapsed = (time.perf_counter() - started) * 1000
        return ComponentHealth("disk", free >= min_free_bytes, elapsed, str(free), float(free))

    return _timed("disk", probe)


def last_reading_health(
    store: RawStore,
    *,
    now: datetime,
    inverters_configured: bool,
    poll_seconds: int,
) -> ComponentHealth:
    """How old the newest reading in the raw store is (fresh within 3 polls, at least 5 min)."""
    stale_after = max(MIN_STALE_AFTER, timedelta(seconds=3 * poll_seconds))

    def probe() -> ComponentHealth:
        started = time.perf_counter()
        recent = store.read(now - LAST_READING_LOOKBACK, now + timedelta(minutes=1))
        elapsed = (time.perf_counter() - started) * 1000
        if recent.empty:
            detail = (
                f"no reading in the last {int(LAST_READING_LOOKBACK.total_seconds() // 60)} min"
            )
            if not inverters_configured:
                return ComponentHealth(
                    "readings", True, elapsed, f"{detail} (no inverters configured)"
                )
            return ComponentHealth("readings", False, elapsed, detail)
        newest = recent["time"].max().to_pydatetime()
        age = max((now - newest).total_seconds(), 0.0)
        ok = age <= stale_after.total_seconds() or not inverters_configured
        detail = f"newest reading {age:.0f} s old ({newest.astimezone(UTC).isoformat(timespec='seconds')})"
        return ComponentHealth("readings", ok, elapsed, detail, age)

    return _timed("readings", probe)


def probe_all(
    store: RawStore,
    warehouse: Warehouse,
    data_dir: str | Path,
    *,
    now: datetime,
    inverters_configured: bool,
    poll_seconds: int,
) -> list[ComponentHealth]:
    """Every component, in a fixed order: raw store, warehouse, spool, disk, readings."""
    return [
        raw_store_health(store),
        warehouse_health(warehouse),
        spool_health(data_dir),
        disk_health(data_dir),
        last_reading_health(
            store, now=now, inverters_configured=inverters_configured, poll_seconds=poll_seconds
        ),
    ]
