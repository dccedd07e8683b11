"""The demo's two emulated inverters: the owner's GW10K-ET over UDP 8899, a GW6K-ET over Modbus/TCP.

The first one is the inverter the sample history came from: same serial, and
its lifetime counters and battery charge continue where the history ended.
When UDP port 8899 is taken on the chosen address, it answers over Modbus/TCP
instead, and ``notes`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from goodwe_pipeline.common.settings import UDP_PORT
from goodwe_pipeline.emulator import (
    DEFAULT_MODEL,
    DEFAULT_SERIAL,
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    HouseholdConfig,
)

SECOND_SERIAL = "9006KETU23EM0002"
SECOND_MODEL = "GW6K-ET"
SECOND_RATED_POWER = 6000


@dataclass
class DemoInverters:
    """Emulators running on a background thread; ``spec`` is their ``GOODWE_INVERTERS`` value."""

    thread: EmulatorThread
    emulators: list[Emulator]
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> str:
        entries = []
        for emulator in self.emulators:
            if emulator.udp_address is not None:
                entries.append(f"{emulator.udp_address[0]}/ET")
            else:
                host, port = emulator.tcp_address
                entries.append(f"{host}:{port}/ET")
        return ",".join(entries)

    def describe(self) -> list[str]:
        return [emulator.describe() for emulator in self.emulators]

    def stop(self) -> None:
        self.thread.stop()


def _configs(
    udp: bool,
    udp_host: str,
    serial: str,
    model: str,
    lifetime_kwh: dict[str, float] | None,
    soc_pct: float | None,
    timezone: str,
) -> list[EmulatorConfig]:
    owner_house = HouseholdConfig(
        timezone=timezone,
        seed=11,
        lifetime_start_kwh=dict(lifetime_kwh)
        if lifetime_kwh
        else HouseholdConfig().lifetime_start_kwh,
        soc_start_pct=soc_pct if soc_pct is not None else 50.0,
    )
    owner = EmulatorConfig(
        host=udp_host if udp else "127.0.0.1",
        udp_port=UDP_PORT if udp else None,
        tcp_port=None if udp else 0,
        serial=serial,
        model=model,
        household=owner_house,
        seed=11,
    )
    neighbour = EmulatorConfig(
        host="127.0.0.1",
        udp_port=None,
        tcp_port=0,
        serial=SECOND_SERIAL,
        model=SECOND_MODEL,
        rated_power=SECOND_RATED_POWER,
        household=HouseholdConfig(
            timezone=timezone,
            pv_peak_w=5400.0,
            battery_kwh=5.0,
            battery_max_w=3000.0,
            base_load_w=220.0,
            evening_peak_w=1800.0,
            seed=12,
        ),
        seed=12,
    )
    return [owner, neighbour]


def start_demo_inverters(
    *,
    udp_host: str = "127.0.0.1",
    serial: str = DEFAULT_SERIAL,
    model: str = DEFAULT_MODEL,
    lifetime_kwh: dict[str, float] | None = None,
    soc_pct: float | None = None,
    timezone: str = "Europe/Warsaw",
) -> DemoInverters:
    """Start both emulators in real time; fall back to Modbus/TCP when UDP 8899 is taken."""

    def start(udp: bool, notes: list[str]) -> DemoInverters:
        configs = _configs(udp, udp_host, serial, model, lifetime_kwh, soc_pct, timezone)
        emulators = [Emulator(config) for config in configs]
        thread = EmulatorThread(*emulators).start()
        return DemoInverters(thread=thread, emulators=emulators, notes=notes)

    try:
        return start(True, [])
    except OSError as exc:
        note = (
            f"UDP port {UDP_PORT} on {udp_host} is taken ({exc.strerror or exc}): the "
            f"{model} answers over Modbus/TCP instead"
        )
        return start(False, [note])
