"""One ingestion tick, without Dagster: replay the spool, poll, write, spool what did not land.

The ``poll_inverters`` sensor calls ``run_tick`` and turns its ``TickOutcome``
into a Dagster ``SensorResult``; ``TickState`` is what the sensor keeps in its
cursor (consecutive failures per inverter, when the last summary event was
emitted). Nothing here raises for an inverter, store or spool failure: every
problem ends up in ``TickOutcome.problems``.

A tick ends within the seconds its caller gives it (``plan_poll``'s ``tick_s``)
whatever the store or the inverters do: the sensor's store handle gives up on a
request after ``STORE_TIMEOUT_S``, the poll has its own budget, replaying only
starts a write while the poll and the fresh write still fit, and fresh readings
go straight to the spool when no time is left to write them. See ``TickBudget``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from goodwe_pipeline import readings
from goodwe_pipeline.common.days import local_date
from goodwe_pipeline.common.settings import InverterAddress
from goodwe_pipeline.ingest.inverters import PollResult, shared_poller
from goodwe_pipeline.ingest.spool import DeadLetter, ReplayResult, refused_for_content
from goodwe_pipeline.raw_store import RawStore
from goodwe_pipeline.raw_store.prepare import safe_device_id

REPLAY_ROWS_PER_TICK = 20_000
"""Bounded so a long backlog drains over several ticks, each well inside its deadline."""
STORE_TIMEOUT_S = 5.0
STORE_RETRIES = 0
"""The sensor's own store handle: a hung store costs one timeout, not minutes. No retry:
readings the store did not take go to the spool, and the next tick replays them."""
STORE_CALL_S = STORE_TIMEOUT_S * (STORE_RETRIES + 1) + 1.0 * STORE_RETRIES
"""The longest one store write may take before it fails (every attempt times out, with the
store's backoff of under 1 s between attempts)."""
REPLAY_WINDOW_S = 10.0
"""Time a tick always has for replaying the spool, however long the poll may take."""
POLL_SHARE = 0.8
"""Of the interval between polls, the share one poll may take."""
REQUESTS_PER_POLL = 2
"""A poll of a device not connected yet reads its device info, then its runtime data."""
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


@dataclass(frozen=True)
class TickBudget:
    """How a tick shares its ``total_s`` seconds: replay first, then the poll
    (``poll_s``), then the fresh write (``store_call_s``, the longest a write may take)."""

    poll_s: float
    total_s: float
    store_call_s: float = STORE_CALL_S

    def replay_until(self, start: float) -> float:
        """The last moment a replay write may start: it, the poll and the fresh write fit."""
        return start + self.total_s - self.poll_s - 2 * self.store_call_s

    def write_until(self, start: float) -> float:
        """The last moment the fresh write may start; after it readings are spooled."""
        return start + self.total_s - self.store_call_s


@dataclass(frozen=True)
class PollPlan:
    """What a tick polls and how patiently, worked out once by ``plan_poll``."""

    addresses: tuple[InverterAddress, ...]
    timeout_s: float
    retries: int
    max_concurrency: int
    timezone: str
    budget: TickBudget
    warnings: tuple[str, ...] = ()

    def poll(self) -> list[PollResult]:
        """Read every inverter once through the process-wide poller (connected inverters are
        kept between ticks); failures are results, not exceptions."""
        if not self.addresses:
            return []
        poller = shared_poller(
            timeout_s=self.timeout_s,
            retries=self.retries,
            max_concurrency=self.max_concurrency,
            budget_s=self.budget.poll_s,
            timezone=self.timezone,
        )
        return poller.poll(self.addresses)


def plan_poll(
    addresses: Sequence[InverterAddress],
    poll_seconds: int,
    *,
    timeout_s: float,
    retries: int,
    max_concurrency: int,
    timezone: str,
    tick_s: float,
) -> PollPlan:
    """The plan of a tick that must end within ``tick_s``, polling every ``poll_seconds``.

    The poll may take ``POLL_SHARE`` of the interval, at most what the tick leaves after the
    replay window, one replay write that started at its end, and the fresh write. One
    request may take ``timeout_s * (1 + retries)``; a poll of a device that must be
    connected first makes ``REQUESTS_PER_POLL`` of them. Settings that could not fit are
    reduced (fewer retries first, then a shorter timeout) and say so in ``warnings``.
    Nonsense (no time, negative retries, no concurrency) raises ``ValueError`` naming the
    variable.
    """
    if not timeout_s > 0:
        raise ValueError(f"GOODWE_INVERTER_TIMEOUT_S must be more than 0 s, not {timeout_s:g}")
    if retries < 0:
        raise ValueError(f"GOODWE_INVERTER_RETRIES must be 0 or more, not {retries}")
    if max_concurrency < 1:
        raise ValueError(f"GOODWE_POLL_CONCURRENCY must be 1 or more, not {max_concurrency}")
    poll_s = min(POLL_SHARE * poll_seconds, tick_s - REPLAY_WINDOW_S - 2 * STORE_CALL_S)
    per_request = poll_s / REQUESTS_PER_POLL
    fitted_timeout, fitted_retries = timeout_s, retries
    if timeout_s * (1 + retries) > per_request:
        fitted_timeout = min(timeout_s, per_request)
        fitted_retries = int(per_request // fitted_timeout) - 1
    warnings: tuple[str, ...] = ()
    if (fitted_timeout, fitted_retries) != (timeout_s, retries):
        warnings = (
            f"GOODWE_INVERTER_TIMEOUT_S={timeout_s:g} with GOODWE_INVERTER_RETRIES={retries} "
            f"allows {timeout_s * (1 + retries):g} s per request, more than the "
            f"{per_request:g} s a request may take in the {poll_s:g} s poll budget: "
            f"using {fitted_timeout:g} s and {fitted_retries} retries",
        )
    return PollPlan(
        tuple(addresses),
        fitted_timeout,
        fitted_retries,
        max_concurrency,
        timezone,
        TickBudget(poll_s=poll_s, total_s=tick_s),
        warnings,
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
    dead_letters: int = 0
    """Spool entries set aside so far (see ``Spool.dead_letters``)."""
    set_aside: int = 0
    """Readings of this tick set aside as dead letters (the store and the spool refused them)."""
    renamed: dict[str, str] = field(default_factory=dict)
    """Device ids stored under their safe form (``raw_store.prepare.safe_device_id``)."""
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[PollResult]:
        return [r for r in self.results if not r.ok]

    @property
    def landed(self) -> int:
        """Rows the store acknowledged this tick (fresh and replayed)."""
        return self.written + self.replayed


class SpoolLike(Protocol):
    """What ``run_tick`` needs of ``goodwe_pipeline.ingest.spool.Spool``."""

    def append(self, frame: pd.DataFrame) -> Any: ...

    def replay(self, store: RawStore, max_rows: int, *, until: float | None) -> ReplayResult: ...

    def backlog_rows(self) -> int: ...

    def dead_letter_count(self) -> int: ...

    def set_aside(self, frame: pd.DataFrame, reason: str) -> DeadLetter: ...


def run_tick(
    poll: Callable[[], Sequence[PollResult]],
    open_store: Callable[[], RawStore],
    spool: SpoolLike,
    budget: TickBudget,
    *,
    replay_rows: int = REPLAY_ROWS_PER_TICK,
) -> TickOutcome:
    """Replay spooled readings (bounded in rows and time), poll every inverter, write the
    readings; whatever the store does not acknowledge, or there is no time left to write,
    goes to the spool. Returns within ``budget.total_s`` when ``poll`` keeps to
    ``budget.poll_s`` and ``open_store`` gives a store whose writes keep to
    ``budget.store_call_s``."""
    start = time.monotonic()
    problems: list[str] = []
    store: RawStore | None = None
    try:
        store = open_store()
    except Exception as exc:  # noqa: BLE001 - reported, readings go to the spool
        problems.append(f"raw store: {exc}")
    try:
        return _tick(poll, store, spool, budget, start, replay_rows, problems)
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def _tick(
    poll: Callable[[], Sequence[PollResult]],
    store: RawStore | None,
    spool: SpoolLike,
    budget: TickBudget,
    start: float,
    replay_rows: int,
    problems: list[str],
) -> TickOutcome:
    replay = _replay(store, spool, budget.replay_until(start), replay_rows, problems)
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
        replayed=int(replay.written) if replay else 0,
        store_url=store.url if store is not None else None,
        problems=problems,
    )
    if not frame.empty:
        target = store
        if replay is not None and replay.store_down:
            target = None
        elif store is not None and time.monotonic() > budget.write_until(start):
            problems.append(
                f"no time left in the {budget.total_s:g} s tick to write to {store.url}: "
                "the readings wait in the spool"
            )
            target = None
        _write_or_spool(frame, target, spool, outcome)
    try:
        outcome.backlog = int(spool.backlog_rows())
        outcome.dead_letters = int(spool.dead_letter_count())
    except Exception as exc:  # noqa: BLE001
        problems.append(f"spool: {exc}")
    return outcome


def _replay(
    store: RawStore | None,
    spool: SpoolLike,
    until: float,
    replay_rows: int,
    problems: list[str],
) -> ReplayResult | None:
    """Replay what fits before ``until``; None without a store or when the replay failed."""
    if store is None:
        return None
    try:
        replay = spool.replay(store, max_rows=replay_rows, until=until)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"replaying the spool into {store.url}: {exc}")
        return None
    problems.extend(letter.describe() for letter in replay.dead_lettered)
    if replay.error:
        problems.append(f"replaying the spool: {replay.error}")
    return replay


def _write_or_spool(
    frame: pd.DataFrame, store: RawStore | None, spool: SpoolLike, outcome: TickOutcome
) -> None:
    """Write to ``store`` (None: straight to the spool). A refused write is spooled like an
    unreachable store's: its replay retries it, and sets it aside if it is refused again
    for its content; the next tick writes its own readings as usual.

    A reading is never held back for another device's fault: when the store refuses the
    batch for its content, each device's readings are written on their own, and only the
    refused ones are spooled; what the spool cannot keep either is set aside, device by
    device, as a dead letter (``Spool.set_aside``), named in ``outcome.problems``."""
    outcome.renamed.update(
        {d: safe for d in pd.unique(frame[readings.DEVICE_ID]) if (safe := safe_device_id(d)) != d}
    )
    refused = _write(frame, store, outcome)
    if refused is None:
        return
    pending = [frame]
    if store is not None and refused_for_content(refused) and _devices(frame) > 1:
        pending = [g for _, g in _by_device(frame) if _write(g, store, outcome) is not None]
    for group in pending:
        _spool(group, spool, outcome)


def _write(frame: pd.DataFrame, store: RawStore | None, outcome: TickOutcome) -> Exception | None:
    """Write ``frame``; None once the store acknowledged all of it, else why not."""
    if store is None:
        return RuntimeError("no store")
    try:
        acknowledged = int(store.write(frame))
    except Exception as exc:  # noqa: BLE001 - StoreUnavailableError or bad data: keep it
        outcome.problems.append(f"writing to {store.url}: {exc}")
        return exc
    if acknowledged >= len(frame):
        outcome.written += len(frame)
        return None
    outcome.problems.append(f"{store.url} acknowledged {acknowledged} of {len(frame)} readings")
    return RuntimeError("partly acknowledged")


def _spool(frame: pd.DataFrame, spool: SpoolLike, outcome: TickOutcome) -> None:
    """Spool ``frame``; what the spool refuses is set aside per device, never lost for
    another device's readings."""
    try:
        spool.append(frame)
    except Exception as exc:  # noqa: BLE001
        if _devices(frame) > 1:
            for _, group in _by_device(frame):
                _spool(group, spool, outcome)
            return
        device = frame[readings.DEVICE_ID].iloc[0]
        try:
            letter = spool.set_aside(frame, f"the spool refused it: {exc}")
        except Exception as buried:  # noqa: BLE001
            outcome.problems.append(
                f"LOST {len(frame)} readings of {device!r}: spool failed too: {exc}; "
                f"setting them aside failed: {buried}"
            )
            return
        outcome.set_aside += len(frame)
        outcome.problems.append(f"readings of {device!r}: {letter.describe()}")
        return
    outcome.spooled += len(frame)


def _devices(frame: pd.DataFrame) -> int:
    return int(frame[readings.DEVICE_ID].nunique(dropna=False))


def _by_device(frame: pd.DataFrame):
    return frame.groupby(readings.DEVICE_ID, sort=False, dropna=False)


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
        "spool_dead_letters": int(outcome.dead_letters),
    }
    if outcome.store_url:
        metadata["raw_store"] = outcome.store_url
    for result in outcome.results:
        if result.reading is None:
            continue
        device = safe_device_id(result.reading[readings.DEVICE_ID])
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
        device = safe_device_id(r[readings.DEVICE_ID])
        lines.append(f"| {label} | {device} | ok | " + " | ".join(cells) + " |")
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
    if outcome.set_aside:
        parts.append(f"{outcome.set_aside} set aside as dead letters")
    if outcome.dead_letters:
        parts.append(f"{outcome.dead_letters} spool entries set aside as dead letters")
    for raw, safe in outcome.renamed.items():
        parts.append(f"device {raw!r} stored as {safe!r}")
    summary = "; ".join(parts)
    if outcome.problems:
        summary += ". Problems: " + "; ".join(outcome.problems)
    return summary
