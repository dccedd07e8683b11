"""Health of what the pipeline stores into: raw store, warehouse, spool, disk, readings.

Used by the ``storage_health`` sensor and ``goodwe-pipeline doctor``. Each probe
returns a ``ComponentHealth`` and never raises: a failure is a result, even a store
that cannot be opened at all (a malformed URL in the environment).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from goodwe_pipeline.ingest.spool import Spool, spool_dir
from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.warehouse import Warehouse

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

    def redacted(self, secrets: Sequence[str]) -> ComponentHealth:
        """The same answer with each secret in ``detail`` replaced by ``***``."""
        detail = mask(self.detail, secrets)
        return self if detail == self.detail else replace(self, detail=detail)

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
        spool = Spool(spool_dir(data_dir))
        rows = spool.backlog_rows()
        letters = spool.dead_letters()
        dead = len(letters)
        elapsed = (time.perf_counter() - started) * 1000
        devices = sorted({d for letter in letters for d in letter.devices})
        set_aside = f"; {dead} entries set aside as dead letters (refused by the store)" + (
            f", readings of {', '.join(devices)}" if devices else ""
        )
        if rows == 0:
            detail = "empty" + (set_aside if dead else "")
            return ComponentHealth("spool", dead == 0, elapsed, detail, 0.0)
        oldest = spool.oldest()
        since = f" since {oldest.isoformat(timespec='seconds')}" if oldest else ""
        detail = f"{rows} readings waiting for the raw store{since}" + (set_aside if dead else "")
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


@dataclass(frozen=True)
class HealthReport:
    results: list[ComponentHealth]
    not_recorded: str | None
    """Why the answers could not be written to ``storage_health`` (None: they were)."""

    @property
    def failing(self) -> list[str]:
        return [r.component for r in self.results if not r.ok]


def check_and_record(
    open_store: Callable[[], RawStore],
    store_kind: str,
    open_warehouse: Callable[[], Warehouse],
    data_dir: str | Path,
    *,
    now: datetime,
    inverters_configured: bool,
    poll_seconds: int,
    secrets: Sequence[str] = (),
) -> HealthReport:
    """Open both stores, probe every component (raw store, warehouse, spool, disk, readings,
    in that order) and append the answers to the warehouse's ``storage_health`` table.
    Never raises.

    A store that cannot be opened is an unhealthy component (``store_kind`` or
    ``warehouse``); without a raw store the readings' age is unknown; when the warehouse
    cannot take the rows, ``not_recorded`` says why. ``secrets`` are masked in every text.
    """
    store = _open(store_kind, open_store)
    warehouse = _open("warehouse", open_warehouse)
    try:
        if isinstance(store, ComponentHealth):
            unknown = f"unknown: the {store_kind} store cannot be opened"
            store_results = [store, ComponentHealth("readings", False, None, unknown)]
        else:
            store_results = [
                raw_store_health(store),
                last_reading_health(
                    store,
                    now=now,
                    inverters_configured=inverters_configured,
                    poll_seconds=poll_seconds,
                ),
            ]
        results = [
            store_results[0],
            warehouse if isinstance(warehouse, ComponentHealth) else warehouse_health(warehouse),
            spool_health(data_dir),
            disk_health(data_dir),
            store_results[1],
        ]
        results = [r.redacted(secrets) for r in results]
        if isinstance(warehouse, ComponentHealth):
            problem = f"the warehouse cannot be opened ({warehouse.detail})"
        else:
            problem = _record(warehouse, results, now)
    finally:
        if isinstance(warehouse, Warehouse):
            _dispose(warehouse)
    return HealthReport(results, None if problem is None else mask(problem, secrets))


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each (non-empty) secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _open(component: str, factory: Callable[[], Any]) -> Any:
    """What ``factory`` opens, or the unhealthy ``ComponentHealth`` saying why it could not."""
    started = time.perf_counter()
    try:
        return factory()
    except Exception as exc:  # a store that cannot be opened is an unhealthy component
        elapsed = (time.perf_counter() - started) * 1000
        return ComponentHealth(
            component, False, elapsed, f"cannot be opened: {type(exc).__name__}: {exc}"
        )


def _record(warehouse: Warehouse, results: list[ComponentHealth], now: datetime) -> str | None:
    try:
        warehouse.insert("storage_health", [r.row(now) for r in results])
    except Exception as exc:  # the warehouse may be the component that is down
        return f"{type(exc).__name__}: {exc}"
    return None


def _dispose(warehouse: Warehouse) -> None:
    try:
        warehouse.dispose()
    except Exception:  # closing the pool of a dead server has nothing left to report
        return
