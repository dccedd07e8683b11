"""The emulated ET inverter on real sockets: UDP (port 8899, AA55/Modbus RTU) and Modbus/TCP.

``Emulator`` is an async context manager; ``EmulatorThread`` runs any number of
emulators on a background event loop for synchronous callers (tests, the demo).
``Faults`` can be changed while an emulator runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from goodwe_pipeline.emulator import protocol as wire
from goodwe_pipeline.emulator.household import Household, HouseholdConfig
from goodwe_pipeline.emulator.registers import (
    DeviceInfo,
    encode_block,
    et_blocks,
    read_registers,
)

logger = logging.getLogger(__name__)

UDP_PORT = 8899
DEFAULT_SERIAL = "9010KETU23EM0001"
DEFAULT_MODEL = "GW10K-ET"
DEFAULT_RATED_POWER = 10000
SPLIT_GAP_S = 0.02


@dataclass
class Faults:
    """What goes wrong, each independently; fractions are per request (seeded RNG).

    ``latency_s`` is the normal reply latency (a Wi-Fi dongle answers in tens of
    milliseconds), not a fault. ``reject`` holds block start registers (e.g.
    37000) answered with Modbus exception 2, ILLEGAL DATA ADDRESS.
    """

    drop: float = 0.0
    delay_s: float = 0.0
    delay_fraction: float = 1.0
    split: float = 0.0
    corrupt: float = 0.0
    silent: bool = False
    reject: frozenset[int] = frozenset()
    latency_s: float = 0.0


@dataclass(frozen=True)
class EmulatorConfig:
    """One emulated inverter. ``udp_port``/``tcp_port`` ``None`` disables that transport;
    ``tcp_port=0`` takes a free port. ``start`` is the simulated time at start-up
    (default now); ``speed`` simulated seconds per wall second."""

    host: str = "127.0.0.1"
    udp_port: int | None = UDP_PORT
    tcp_port: int | None = None
    serial: str = DEFAULT_SERIAL
    model: str = DEFAULT_MODEL
    rated_power: int = DEFAULT_RATED_POWER
    speed: float = 1.0
    start: datetime | None = None
    household: HouseholdConfig | None = None
    seed: int = 1

    def household_config(self) -> HouseholdConfig:
        if self.household is not None:
            return self.household
        return HouseholdConfig(
            pv_peak_w=0.9 * self.rated_power,
            battery_max_w=0.5 * self.rated_power,
            seed=self.seed,
        )


class SimClock:
    """Simulated time: ``start`` plus wall time elapsed since creation, times ``speed``."""

    def __init__(self, start: datetime, speed: float = 1.0):
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)


@dataclass(frozen=True)
class Reply:
    data: bytes | None = None
    exception: int | None = None


@dataclass
class Stats:
    requests: int = 0
    dropped: int = 0
    rejected: int = 0
    by_block: dict[int, int] = field(default_factory=dict)


class Emulator:
    """An ET hybrid inverter answering the real ``goodwe`` library."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        faults: Faults | None = None,
        clock: SimClock | None = None,
    ):
        self.config = config or EmulatorConfig()
        self.faults = faults or Faults()
        start = self.config.start or datetime.now(UTC)
        self.clock = clock or SimClock(start, self.config.speed)
        self.household = Household(self.config.household_config(), self.clock.now())
        self.device_info = DeviceInfo(
            serial=self.config.serial,
            model=self.config.model,
            rated_power=self.config.rated_power,
        )
        self.device_info.registers()  # a serial or model too long fails here, not per request
        self.blocks = et_blocks()
        self.stats = Stats()
        self.last_values: dict[str, Any] = {}
        self._overrides: dict[str, Any] = {}
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.udp_address: tuple[str, int] | None = None
        self.tcp_address: tuple[str, int] | None = None

    # -- behaviour ---------------------------------------------------------

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Serve these sensor values (by ``goodwe`` sensor id) instead of the simulation's."""
        with self._lock:
            self._overrides.update(values)

    def values(self) -> dict[str, Any]:
        """The sensor values being served now (simulation advanced to the clock)."""
        with self._lock:
            self.household.advance(self.clock.now())
            values = self.household.sensor_values()
            values.update(self._overrides)
            self.last_values = values
            return dict(values)

    def answer(self, request: wire.Request) -> Reply:
        """The reply to one Modbus request (faults other than ``reject`` not applied)."""
        self.stats.requests += 1
        self.stats.by_block[request.start] = self.stats.by_block.get(request.start, 0) + 1
        if request.function != wire.READ:
            return Reply(exception=wire.ILLEGAL_FUNCTION)
        if request.start in self.faults.reject:
            self.stats.rejected += 1
            return Reply(exception=wire.ILLEGAL_DATA_ADDRESS)
        block = next((b for b in self.blocks if b.contains(request.start, request.count)), None)
        if block is None:
            self.stats.rejected += 1
            return Reply(exception=wire.ILLEGAL_DATA_ADDRESS)
        if block.name == "device_info":
            image = self.device_info.registers()
        else:
            image = encode_block(block, self.values())
        data = read_registers((block,), {block.name: image}, request.start, request.count)
        return Reply(data=data)

    def _chance(self, fraction: float) -> bool:
        return fraction > 0 and self._rng.random() < fraction

    def _delay(self) -> float:
        extra = self.faults.delay_s if self._chance(self.faults.delay_fraction) else 0.0
        return self.faults.latency_s + extra

    # -- transports --------------------------------------------------------

    async def start(self) -> Emulator:
        loop = asyncio.get_running_loop()
        if self.config.udp_port is not None:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpServer(self),
                local_addr=(self.config.host, self.config.udp_port),
            )
            self.udp_address = self._udp.get_extra_info("sockname")[:2]
        if self.config.tcp_port is not None:
            self._tcp = await asyncio.start_server(
                self._serve_tcp, self.config.host, self.config.tcp_port, reuse_address=True
            )
            self.tcp_address = self._tcp.sockets[0].getsockname()[:2]
        return self

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
            self._tcp = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> str:
        """``host:port`` as ``GOODWE_INVERTERS`` and ``goodwe-pipeline read`` take it (TCP first)."""
        host, port = self.tcp_address or self.udp_address or (self.config.host, 0)
        return f"{host}:{port}"

    def describe(self) -> str:
        where = []
        if self.udp_address:
            where.append(f"udp {self.udp_address[0]}:{self.udp_address[1]}")
        if self.tcp_address:
            where.append(f"tcp {self.tcp_address[0]}:{self.tcp_address[1]}")
        return f"{self.config.model} S/N {self.config.serial} on {', '.join(where)}"

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                header = await reader.readexactly(wire.MBAP_HEADER)
                body = await reader.readexactly(wire.mbap_length(header))
                request = wire.parse_tcp_request(header + body)
                if request is None or self.faults.silent:
                    continue
                if self._chance(self.faults.drop):
                    self.stats.dropped += 1
                    continue
                reply = self.answer(request)
                if reply.data is None:
                    frame = wire.tcp_exception(
                        request.transaction, request.unit, request.function, reply.exception or 2
                    )
                else:
                    frame = wire.tcp_response(request.transaction, request.unit, reply.data)
                    if self._chance(self.faults.corrupt):
                        frame = wire.tcp_bad_length(frame)
                delay = self._delay()
                if delay:
                    await asyncio.sleep(delay)
                if reply.data is not None and self._chance(self.faults.split):
                    first, second = wire.split_frame(frame)
                    writer.write(first)
                    await writer.drain()
                    await asyncio.sleep(SPLIT_GAP_S)
                    frame = second
                writer.write(frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        em = self.emulator
        if em.faults.silent:
            return
        if data == wire.DISCOVERY_REQUEST:
            frame = wire.discovery_response(em.config.model, em.config.serial)
            is_data = False
        else:
            request = wire.parse_rtu_request(data)
            if request is None:
                return
            if em._chance(em.faults.drop):
                em.stats.dropped += 1
                return
            reply = em.answer(request)
            if reply.data is None:
                frame = wire.rtu_exception(request.unit, request.function, reply.exception or 2)
                is_data = False
            else:
                frame = wire.rtu_response(request.unit, reply.data)
                is_data = True
            if em._chance(em.faults.corrupt):
                frame = wire.corrupt_crc(frame)
        parts = wire.split_frame(frame) if is_data and em._chance(em.faults.split) else (frame,)
        delay = em._delay()
        loop = asyncio.get_running_loop()
        for i, part in enumerate(parts):
            loop.call_later(delay + i * SPLIT_GAP_S, self._send, part, addr)

    def _send(self, frame: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(frame, addr)


class EmulatorThread:
    """Runs emulators on a private event loop in a daemon thread.

    ``start()`` returns once every emulator is bound (raising what binding
    raised); ``stop()`` closes them and joins the thread. Usable as a context
    manager.
    """

    def __init__(self, *emulators: Emulator):
        self.emulators = list(emulators)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    def start(self, timeout: float = 10.0) -> EmulatorThread:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._main(ready, failure))
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="goodwe-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("emulators did not start")
        if failure:
            self._thread.join(timeout)
            raise failure[0]
        return self

    async def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        self._stopped = asyncio.Event()
        started: list[Emulator] = []
        try:
            for emulator in self.emulators:
                await emulator.start()
                started.append(emulator)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the starting thread
            failure.append(exc)
            for emulator in started:
                await emulator.stop()
            ready.set()
            return
        ready.set()
        await self._stopped.wait()
        for emulator in started:
            await emulator.stop()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None or self._stopped is None:
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_loopback_udp_host(port: int = UDP_PORT, first: int = 2) -> str:
    """A loopback address (127.0.0.N) whose UDP ``port`` is free right now.

    UDP to an inverter only works on port 8899, so emulators side by side use
    different loopback addresses instead of different ports.
    """
    for n in range(first, 255):
        host = f"127.0.0.{n}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return host
    raise OSError(f"no loopback address with UDP port {port} free")


def configs_side_by_side(base: EmulatorConfig, count: int) -> list[EmulatorConfig]:
    """``count`` inverters next to each other: serials numbered from ``base.serial``;
    TCP on consecutive ports (free ports when ``base.tcp_port`` is 0), UDP on
    consecutive loopback addresses starting at ``base.host``."""
    configs = []
    prefix, number = base.serial[:-4], int(base.serial[-4:]) if base.serial[-4:].isdigit() else 0
    host_parts = base.host.split(".")
    for i in range(count):
        host = base.host
        if i and base.udp_port is not None and len(host_parts) == 4:
            host = ".".join([*host_parts[:3], str(int(host_parts[3]) + i)])
        tcp_port = base.tcp_port
        if i and tcp_port:
            tcp_port += i
        configs.append(
            replace(
                base,
                host=host,
                tcp_port=tcp_port,
                serial=f"{prefix}{(number + i) % 10000:04d}",
                seed=base.seed + i,
            )
        )
    return configs
