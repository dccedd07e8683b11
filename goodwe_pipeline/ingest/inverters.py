"""Polling many GoodWe inverters with the ``goodwe`` library: concurrent, bounded, never stuck.

One connected ``goodwe`` ``Inverter`` object per device is kept between polls
(its device info is read once); after any failure it is dropped and the next
poll reconnects, which also resets the library's per-protocol retry state.
Every poll ends within ``budget_s``: a device still talking by then is reported
as failed and left to finish in the background (its next poll is skipped
until it has). ``SyncInverterPoller`` runs all of it on a private event loop
thread so synchronous callers (Dagster sensors) can use it from any thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import goodwe
from goodwe.exceptions import InverterError, RequestFailedException, RequestRejectedException
from goodwe.inverter import Inverter

from goodwe_pipeline.common.settings import DEFAULT_TIMEZONE, UDP_PORT, InverterAddress
from goodwe_pipeline.readings import DEVICE_ID, from_goodwe

FAMILIES = (*goodwe.ET_FAMILY, *goodwe.ES_FAMILY, *goodwe.DT_FAMILY)
DEFAULT_TIMEOUT_S = 1.0
DEFAULT_RETRIES = 3
DEFAULT_MAX_CONCURRENCY = 64
DEFAULT_BUDGET_S = 30.0


@dataclass(frozen=True)
class PollResult:
    """One device's outcome: a canonical reading (dict) or a one-line error."""

    address: InverterAddress
    reading: dict[str, Any] | None
    error: str | None
    consecutive_failures: int
    elapsed_s: float
    model: str | None = None

    @property
    def ok(self) -> bool:
        return self.reading is not None

    @property
    def device_id(self) -> str | None:
        return self.reading[DEVICE_ID] if self.reading else None


class InverterPoller:
    """Polls inverters on the running event loop; keep using it from the same loop."""

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        budget_s: float = DEFAULT_BUDGET_S,
        timezone: str = DEFAULT_TIMEZONE,
    ):
        if timeout_s <= 0 or retries < 0 or max_concurrency < 1 or budget_s <= 0:
            raise ValueError(
                "timeout_s, budget_s and max_concurrency must be positive, retries >= 0"
            )
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_concurrency = max_concurrency
        self.budget_s = budget_s
        self.timezone = timezone
        self._inverters: dict[str, Inverter] = {}
        self._failures: dict[str, int] = {}
        self._running: dict[str, asyncio.Task] = {}
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def request_budget_s(self) -> float:
        """Worst case for one request: every attempt times out."""
        return self.timeout_s * (1 + self.retries)

    @property
    def close_budget_s(self) -> float:
        """Worst case for ``close``: a read (device info, then runtime data, then the failure's
        probe) left to end by itself, then cancelled."""
        return 2 * self.request_budget_s + 2 * self.timeout_s + 1

    def consecutive_failures(self, address: InverterAddress) -> int:
        return self._failures.get(address.label, 0)

    def connected(self) -> list[str]:
        return sorted(self._inverters)

    async def read(self, address: InverterAddress) -> PollResult:
        """Read one inverter now (connecting first when needed); never raises for device errors."""
        label = address.label
        started = time.monotonic()
        inverter = self._inverters.get(label)
        try:
            if address.family and address.family not in FAMILIES:
                raise ValueError(
                    f"unknown inverter family {address.family!r}: use one of {', '.join(FAMILIES)}"
                )
            if inverter is None:
                inverter = await goodwe.connect(
                    address.host,
                    address.port,
                    family=address.family,
                    timeout=self.timeout_s,
                    retries=self.retries,
                )
                self._inverters[label] = inverter
            polled_at = datetime.now(UTC)
            data = await inverter.read_runtime_data()
            if not inverter.serial_number:
                raise InverterError("the inverter reported no serial number")
            reading = from_goodwe(
                data, inverter.serial_number, polled_at, inverter_timezone=self.timezone
            )
        except Exception as exc:  # noqa: BLE001 - one inverter must never break the others
            self._inverters.pop(label, None)
            failures = self._failures[label] = self._failures.get(label, 0) + 1
            message = await describe_failure(address, exc, self.timeout_s, self.retries)
            return PollResult(address, None, message, failures, time.monotonic() - started)
        self._failures[label] = 0
        return PollResult(
            address, reading, None, 0, time.monotonic() - started, inverter.model_name
        )

    async def poll(self, addresses: Sequence[InverterAddress]) -> list[PollResult]:
        """Read every address concurrently (at most ``max_concurrency`` at once), within ``budget_s``.

        Results come back in the order of ``addresses`` (one per distinct
        ``host:port``, the first entry wins). Inverter objects of addresses no
        longer listed are forgotten.
        """
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        distinct: dict[str, InverterAddress] = {}
        for address in addresses:
            distinct.setdefault(address.label, address)
        addresses = list(distinct.values())
        wanted = {a.label for a in addresses}
        for label in set(self._inverters) - wanted:
            self._inverters.pop(label, None)
        started = time.monotonic()
        tasks: dict[str, asyncio.Task] = {}
        results: dict[str, PollResult] = {}
        for address in addresses:
            label = address.label
            previous = self._running.get(label)
            if previous is not None and not previous.done():
                failures = self._failures[label] = self._failures.get(label, 0) + 1
                results[label] = PollResult(
                    address,
                    None,
                    f"{label}: the previous poll is still waiting for an answer",
                    failures,
                    0.0,
                )
                continue
            task = asyncio.get_running_loop().create_task(self._bounded_read(address))
            tasks[label] = self._running[label] = task
        if tasks:
            await asyncio.wait(tasks.values(), timeout=self.budget_s)
        for address in addresses:
            label = address.label
            if label in results:
                continue
            task = tasks[label]
            if task.done():
                results[label] = task.result()
                self._running.pop(label, None)
            else:
                self._inverters.pop(label, None)
                failures = self._failures[label] = self._failures.get(label, 0) + 1
                results[label] = PollResult(
                    address,
                    None,
                    f"{label}: no complete answer within the poll budget of {self.budget_s:g} s",
                    failures,
                    time.monotonic() - started,
                )
        return [results[a.label] for a in addresses]

    async def _bounded_read(self, address: InverterAddress) -> PollResult:
        assert self._semaphore is not None
        async with self._semaphore:
            return await self.read(address)

    async def close(self) -> None:
        """Let background reads end, then forget every connection.

        A read ends by itself once its attempts have timed out, and goodwe then
        closes its socket. Cancelling it instead could interrupt goodwe while it
        closes the socket (goodwe also turns a cancellation into one more
        attempt), so a read is only cancelled if it outlives its worst case.
        """
        pending = {t for t in self._running.values() if not t.done()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=self.close_budget_s - self.timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self.timeout_s)
        self._running.clear()
        self._inverters.clear()


async def describe_failure(
    address: InverterAddress,
    exc: BaseException,
    timeout_s: float,
    retries: int,
) -> str:
    """One line saying what failed and what to check (address, port, family)."""
    label = address.label
    family_hint = (
        f"check the family ({address.family}); leave it out to auto-detect"
        if address.family
        else "name the family (e.g. HOST/ET)"
    )
    if isinstance(exc, RequestRejectedException):
        return (
            f"{label}: the inverter rejected a request ({exc.message or 'no reason'}): "
            f"{family_hint}"
        )
    transport = "UDP" if address.port == UDP_PORT else "Modbus/TCP"
    if isinstance(exc, RequestFailedException | TimeoutError | OSError):
        unreachable = await _unreachable(address, timeout_s)
        if unreachable:
            return f"{label}: {unreachable}"
        hint = f"; or {family_hint}" if address.family else ""
        return (
            f"{label}: no answer over {transport} after {1 + retries} attempts of "
            f"{timeout_s:g} s: check the address and that the inverter and its dongle are on{hint}"
        )
    if isinstance(exc, ValueError):
        return f"{label}: {exc}"
    if isinstance(exc, InverterError):
        if not address.family:
            # goodwe's auto-detection says "not supported yet" both when no inverter answered
            # and when one answered in an unknown way: tell them apart before advising.
            unreachable = await _unreachable(address, timeout_s)
            if unreachable:
                return f"{label}: {unreachable}"
            return (
                f"{label}: no inverter family answered the auto-detection over {transport}: "
                "check the address and that the inverter and its dongle are on; if they are, "
                "name the family (e.g. HOST/ET)"
            )
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"{label}: {detail}: {family_hint}"
    return f"{label}: {type(exc).__name__}: {exc}"


async def _unreachable(address: InverterAddress, timeout_s: float) -> str | None:
    """What is wrong with the address itself (a closed port), with what to check; None when
    the port may be open."""
    if address.port != UDP_PORT and not await _tcp_port_open(address, timeout_s):
        return (
            f"nothing accepts Modbus/TCP connections on port {address.port}: "
            "check the host and port (502 for LAN/Wi-Fi kit 2.0, 8899 for UDP dongles)"
        )
    if address.port == UDP_PORT and await _udp_port_refused(address, timeout_s):
        return (
            "UDP port 8899 is closed on this host: check the address, or use "
            "HOST:502 if the dongle only speaks Modbus/TCP"
        )
    return None


async def _tcp_port_open(address: InverterAddress, timeout_s: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(address.host, address.port), timeout_s
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _udp_port_refused(address: InverterAddress, timeout_s: float) -> bool:
    """Whether the host answers an empty datagram with "port unreachable".

    goodwe's retries hide that answer behind a plain "no valid response"; an
    empty datagram is harmless to a dongle that does listen.
    """
    loop = asyncio.get_running_loop()
    try:
        family, kind, proto, _, target = (
            await loop.getaddrinfo(address.host, address.port, type=socket.SOCK_DGRAM)
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setblocking(False)
            await loop.sock_connect(probe, target)
            probe.send(b"")
            await asyncio.wait_for(loop.sock_recv(probe, 1), timeout_s)
    except ConnectionRefusedError:
        return True
    except (OSError, TimeoutError):
        return False
    return False


class SyncInverterPoller:
    """An ``InverterPoller`` on a private event-loop thread, for synchronous callers.

    Safe to call from a thread that already runs an event loop; calls are
    serialised. ``close()`` stops the thread.
    """

    def __init__(self, **poller_kwargs: Any):
        self.poller = InverterPoller(**poller_kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="goodwe-poller", daemon=True
        )
        self._thread.start()
        self._lock = threading.Lock()
        self._closed = False

    def _run(self, coro, timeout: float):
        if self._closed:
            coro.close()
            raise RuntimeError("poller is closed")
        with self._lock:
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
            return future.result(timeout)

    def poll(self, addresses: Sequence[InverterAddress]) -> list[PollResult]:
        return self._run(self.poller.poll(list(addresses)), self.poller.budget_s + 10)

    def read(self, address: InverterAddress) -> PollResult:
        return self.poll([address])[0]

    async def _shutdown(self) -> None:
        """Close the poller, and let the connections closed on the way finish closing: a
        transport closes on a later turn of the loop, which must come before the loop stops."""
        await self.poller.close()
        await asyncio.sleep(0.05)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._run(self._shutdown(), self.poller.close_budget_s + 10)
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self._loop.close()


_shared: dict[tuple, SyncInverterPoller] = {}
_shared_lock = threading.Lock()


def shared_poller(
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    budget_s: float = DEFAULT_BUDGET_S,
    timezone: str = DEFAULT_TIMEZONE,
) -> SyncInverterPoller:
    """The process-wide poller for these settings, so connected inverters survive between
    sensor ticks (ticks run in the same code-server process). A poller with other
    settings is closed and replaced."""
    key = (timeout_s, retries, max_concurrency, budget_s, timezone)
    with _shared_lock:
        poller = _shared.get(key)
        if poller is None:
            for old in _shared.values():
                old.close()
            _shared.clear()
            poller = _shared[key] = SyncInverterPoller(
                timeout_s=timeout_s,
                retries=retries,
                max_concurrency=max_concurrency,
                budget_s=budget_s,
                timezone=timezone,
            )
        return poller


def close_shared_pollers() -> None:
    with _shared_lock:
        for poller in _shared.values():
            poller.close()
        _shared.clear()
