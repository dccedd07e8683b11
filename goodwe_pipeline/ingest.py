"""One ingestion tick, without Dagster: replay the spool, poll, write, spool what did not land.

The ``poll_inverters`` sensor calls ``run_tick`` and turns its ``TickOutcome``
into a Dagster ``SensorResult``; ``TickState`` is what the sensor keeps in its
cursor (consecutive failures per inverter, when the last summary event was
emitted). Nothing here raises for an inverter, store or spool failure: every
problem ends up in ``TickOutcome.problems``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from goodwe_pipeline import readings
from goodwe_pipeline.days import local_date
from goodwe_pipeline.inverter_client import PollResult
from goodwe_pipeline.raw_store import RawStore
from goodwe_pipeline.spool import ReplayResult

REPLAY_ROWS_PER_TICK = 20_000
"""Bounded so a long backlog drains over several ticks, each well inside 60 s."""
EVENT_INTERVAL = timedelta(minutes=5)
"""At most 288 summary events a day, however often the sensor ticks."""
UNAVAILABLE_AFTER = 3
"""Consecutive failures after which an inverter counts as unavailable (as Home Assistant does)."""


@dataclass
class TickState:
    """The sensor cursor: JSON, tolerant of an empty or unreadable value."""

    failures: dict[str, int] = field(default_factory=dict)
    last_event_at: datetime | None = None
    last_event_partition: str | None = None
    written_since_event: int = 0

    @classmethod
    def from_cursor(cls, cursor: str | None) -> TickState:
        if not cursor:
            return cls()
        try:
            raw = json.loads(cursor)
            last = raw.get("last_event_at")
            return cls(
                failures={str(k): int(v) for k, v in raw.get("failures", {}).items()},
                last_event_at=datetime.fromisoformat(last) if last else None,
                last_event_partition=raw.get("last_event_partition"),
                written_since_event=int(raw.get("written_since_event", 0)),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "failures": self.failures,
                "last_event_at": self.last_event_at.isoformat() if self.last_event_at else None,
                "last_event_partition": self.last_event_partition,
                "written_since_event": self.written_since_event,
            },
            sort_keys=True,
        )

    def event_due(
        self, now: datetime, partition: str, interval: timedelta = EVENT_INTERVAL
    ) -> bool:
        return (
            self.last_event_at is None
            or partition != self.last_event_partition
            or now - self.last_event_at >= interval
        )


@dataclass
class TickOutcome:
    results: list[PollResult]
    frame: pd.DataFrame
    written: int = 0
    replayed: int = 0
    spooled: int = 0
    backlog: int = 0
    store_url: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[PollResult]:
        return [r for r in self.results if not r.ok]

    @property
    def landed(self) -> int:
        """Rows the store acknowledged this tick (fresh and replayed)."""
        return self.written + self.replayed


class SpoolLike(Protocol):
    """What ``run_tick`` needs of ``goodwe_pipeline.spool.Spool``."""

    def append(self, frame: pd.DataFrame) -> Any: ...

    def replay(self, store: RawStore, max_rows: int) -> ReplayResult: ...

    def backlog_rows(self) -> int: ...


def run_tick(
    poll: Callable[[], Sequence[PollResult]],
    open_store: Callable[[], RawStore],
    spool: SpoolLike,
    *,
    replay_rows: int = REPLAY_ROWS_PER_TICK,
) -> TickOutcome:
    """Replay spooled readings (bounded), poll every inverter, write the readings;
    whatever the store does not acknowledge goes to the spool."""
    problems: list[str] = []
    store: RawStore | None = None
    try:
        store = open_store()
    except Exception as exc:  # noqa: BLE001 - reported, readings go to the spool
        problems.append(f"raw store: {exc}")
    try:
        return _tick(poll, store, spool, replay_rows, problems)
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def _tick(
    poll: Callable[[], Sequence[PollResult]],
    store: RawStore | None,
    spool: SpoolLike,
    replay_rows: int,
    problems: list[str],
) -> TickOutcome:
    replayed = 0
    replay = None
    if store is not None:
        try:
            replay = spool.replay(store, max_rows=replay_rows)
            replayed = int(replay.written)
            if replay.error:
                problems.append(f"replaying the spool: {replay.error}")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"replaying the spool into {store.url}: {exc}")
    try:
        results = list(poll())
    except Exception as exc:  # noqa: BLE001 - e.g. the poller's own deadline passed
        problems.append(f"polling: {exc}")
        results = []
    for result in results:
        if not result.ok:
            problems.append(result.error or f"{result.address.label}: failed")
    frame = readings.from_records(r.reading for r in results if r.reading is not None)
    outcome = TickOutcome(
        results=results,
        frame=frame,
        replayed=replayed,
        store_url=store.url if store is not None else None,
        problems=problems,
    )
    store_down = replay is not None and replay.error is not None
    if not frame.empty:
        _write_or_spool(frame, None if store_down else store, spool, outcome)
    try:
        outcome.backlog = int(spool.backlog_rows())
    except Exception as exc:  # noqa: BLE001
        problems.append(f"spool: {exc}")
    return outcome


def _write_or_spool(
    frame: pd.DataFrame, store: RawStore | None, spool: SpoolLike, outcome: TickOutcome
) -> None:
    if store is not None:
        try:
            acknowledged = int(store.write(frame))
        except Exception as exc:  # noqa: BLE001 - StoreUnavailableError or bad data: keep it
            outcome.problems.append(f"writing to {store.url}: {exc}")
        else:
            if acknowledged >= len(frame):
                outcome.written = len(frame)
                return
            outcome.problems.append(
                f"{store.url} acknowledged {acknowledged} of {len(frame)} readings"
            )
    try:
        spool.append(frame)
        outcome.spooled = len(frame)
    except Exception as exc:  # noqa: BLE001
        outcome.problems.append(f"LOST {len(frame)} readings: spool failed too: {exc}")


def advance_state(state: TickState, outcome: TickOutcome) -> TickState:
    """Consecutive failures per inverter and readings landed since the last event."""
    failures = {
        r.address.label: 0 if r.ok else state.failures.get(r.address.label, 0) + 1
        for r in outcome.results
    }
    return TickState(
        failures=failures,
        last_event_at=state.last_event_at,
        last_event_partition=state.last_event_partition,
        written_since_event=state.written_since_event + outcome.landed,
    )


def partition_key(moment: datetime, timezone: str) -> str:
    return local_date(moment, timezone).isoformat()


def summary_metadata(outcome: TickOutcome, state: TickState) -> dict[str, Any]:
    """Plain-typed metadata for the summary event: counts, and SOC / PV power per device."""
    metadata: dict[str, Any] = {
        "devices_polled": len(outcome.results),
        "devices_failed": len(outcome.failed),
        "readings_written": int(state.written_since_event),
        "readings_replayed_this_tick": int(outcome.replayed),
        "spool_backlog_rows": int(outcome.backlog),
    }
    if outcome.store_url:
        metadata["raw_store"] = outcome.store_url
    for result in outcome.results:
        if result.reading is None:
            continue
        device = result.reading[readings.DEVICE_ID]
        for name in ("battery_soc_pct", "pv_power_w"):
            value = result.reading.get(name)
            if isinstance(value, float) and not math.isnan(value):
                metadata[f"{device}/{name}"] = float(value)
    metadata["devices"] = device_table(outcome, state)
    return metadata


def device_table(outcome: TickOutcome, state: TickState) -> str:
    """A Markdown table: one line per inverter with its latest values or its error."""
    lines = [
        "| inverter | device | status | SOC % | PV W | battery W | grid W | load W |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in outcome.results:
        label = result.address.label
        failures = state.failures.get(label, 0)
        if result.reading is None:
            status = "unavailable" if failures >= UNAVAILABLE_AFTER else "failed"
            detail = (result.error or "").replace("|", "/")
            lines.append(f"| {label} | | {status} ({failures}x): {detail} | | | | | |")
            continue
        r = result.reading
        cells = [
            _fmt(r.get(name))
            for name in (
                "battery_soc_pct",
                "pv_power_w",
                "battery_power_w",
                "grid_power_w",
                "load_power_w",
            )
        ]
        lines.append(f"| {label} | {r[readings.DEVICE_ID]} | ok | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.0f}"
    return ""


def tick_summary(outcome: TickOutcome) -> str:
    """One line for the tick's log and skip reason."""
    ok = len(outcome.results) - len(outcome.failed)
    if outcome.results:
        parts = [
            f"polled {len(outcome.results)} inverter(s): {ok} ok, {len(outcome.failed)} failed"
        ]
        parts.append(f"{outcome.written} reading(s) written")
    else:
        parts = ["no inverter polled"]
    if outcome.replayed:
        parts.append(f"{outcome.replayed} replayed from the spool")
    if outcome.spooled:
        parts.append(f"{outcome.spooled} spooled")
    if outcome.backlog:
        parts.append(f"spool backlog {outcome.backlog}")
    summary = "; ".join(parts)
    if outcome.problems:
        summary += ". Problems: " + "; ".join(outcome.problems)
    return summary
