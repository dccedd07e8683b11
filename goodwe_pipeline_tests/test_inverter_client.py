"""The inverter client: many emulated inverters over real sockets, with the real library."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest

from goodwe_pipeline.common.settings import InverterAddress
from goodwe_pipeline.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    Faults,
    free_loopback_udp_host,
)
from goodwe_pipeline.ingest.inverters import (
    InverterPoller,
    SyncInverterPoller,
    close_shared_pollers,
    shared_poller,
)
from goodwe_pipeline.readings import FIELD_NAMES
from goodwe_pipeline_tests.servers import free_port

QUICK_POLLER = {"timeout_s": 1.0, "retries": 2, "timezone": "Europe/Warsaw"}
"""Poller options for emulators on this machine: a silent one fails in seconds."""


def address_of(emulator: Emulator, family: str | None = "ET") -> InverterAddress:
    host, port = emulator.tcp_address or emulator.udp_address
    return InverterAddress(host, port, family)


def test_polls_many_inverters_and_isolates_failures(tcp):
    udp_host = free_loopback_udp_host()
    good = [
        tcp("9010KETU23EM0201"),
        tcp("9010KETU23EM0202"),
        Emulator(EmulatorConfig(host=udp_host, serial="9010KETU23EM0203")),
    ]
    good[0].set_values({"ppv1": 2500, "ppv2": 1500, "battery_soc": 64, "active_power": -700})
    silent = tcp("9010KETU23EM0204", silent=True)
    with EmulatorThread(*good, silent):
        addresses = [address_of(e) for e in good]
        addresses += [address_of(silent), InverterAddress("127.0.0.1", free_port(), "ET")]
        poller = SyncInverterPoller(**QUICK_POLLER, budget_s=20)
        try:
            first = poller.poll(addresses)
            second = poller.poll(addresses)
        finally:
            poller.close()
    assert [r.address for r in first] == addresses
    assert [r.device_id for r in first[:3]] == [e.config.serial for e in good]
    reading = first[0].reading
    assert set(FIELD_NAMES) <= set(reading)
    assert reading["pv_power_w"] == 4000.0 and reading["battery_soc_pct"] == 64.0
    assert reading["grid_power_w"] == -700.0
    assert reading["time"].tzinfo is not None
    assert not math.isnan(reading["inverter_clock_skew_s"])
    assert first[1].reading["source"] == "inverter" and first[1].model == "GW10K-ET"
    assert [r.ok for r in second] == [True, True, True, False, False]
    assert [r.consecutive_failures for r in second] == [0, 0, 0, 2, 2]
    assert "no answer" in second[3].error
    assert "nothing accepts Modbus/TCP connections" in second[4].error


def test_connected_inverters_are_reused_and_reconnected_after_a_failure():
    port = free_port()
    config = EmulatorConfig(udp_port=None, tcp_port=port, serial="9010KETU23EM0301")
    address = InverterAddress("127.0.0.1", port, "ET")

    async def scenario():
        poller = InverterPoller(**QUICK_POLLER)
        first = Emulator(config)
        async with first:
            ok = await poller.read(address)
            again = await poller.read(address)
        device_info_reads = first.stats.by_block[35000]
        down = await poller.read(address)
        connected_while_down = poller.connected()
        async with Emulator(config):
            back = await poller.read(address)
        await poller.close()
        return ok, again, device_info_reads, down, connected_while_down, back

    ok, again, device_info_reads, down, connected_while_down, back = asyncio.run(scenario())
    assert ok.ok and again.ok
    assert device_info_reads == 1
    assert not down.ok and down.consecutive_failures == 1
    assert connected_while_down == []
    assert back.ok and back.consecutive_failures == 0


def test_a_silent_inverter_fails_within_the_budget_while_others_are_read(tcp):
    good = tcp("9010KETU23EM0401")
    silent = tcp("9010KETU23EM0402", silent=True)
    with EmulatorThread(good, silent):
        addresses = [address_of(good), address_of(silent)]
        poller = SyncInverterPoller(timeout_s=0.5, retries=5, budget_s=1.5)
        try:
            first = poller.poll(addresses)
            second = poller.poll(addresses)
        finally:
            poller.close()
    assert first[0].ok and second[0].ok
    assert "within the poll budget of 1.5 s" in first[1].error
    assert "previous poll is still waiting" in second[1].error
    assert second[1].consecutive_failures == 2


def test_sync_poller_works_from_inside_a_running_event_loop(tcp):
    emulator = tcp("9010KETU23EM0501")

    async def from_async_code():
        poller = SyncInverterPoller(**QUICK_POLLER)
        try:
            return poller.read(address_of(emulator))
        finally:
            poller.close()

    with EmulatorThread(emulator):
        result = asyncio.run(from_async_code())
    assert result.ok and result.device_id == "9010KETU23EM0501"


def test_errors_say_what_to_check(tcp):
    udp_host = free_loopback_udp_host()
    emulators = [tcp("9010KETU23EM0601"), tcp("9010KETU23EM0602")]
    silent_udp = Emulator(EmulatorConfig(host=udp_host), faults=Faults(silent=True))
    with EmulatorThread(*emulators, silent_udp):
        cases = [
            address_of(emulators[0], "DT"),
            address_of(emulators[1], "XX"),
            InverterAddress(udp_host, 8899, "ET"),
            InverterAddress(free_loopback_udp_host(), 8899, "ET"),
        ]
        poller = SyncInverterPoller(**QUICK_POLLER)
        try:
            wrong_family, unknown_family, silent, closed = poller.poll(cases)
        finally:
            poller.close()
    assert "rejected" in wrong_family.error and "check the family (DT)" in wrong_family.error
    assert "unknown inverter family 'XX'" in unknown_family.error
    assert "no answer over UDP after 3 attempts" in silent.error
    assert "UDP port 8899 is closed" in closed.error


def test_clock_skew_is_kept():
    start = datetime.now(UTC) - timedelta(minutes=10)
    emulator = Emulator(EmulatorConfig(udp_port=None, tcp_port=0, start=start))
    with EmulatorThread(emulator):
        poller = SyncInverterPoller(**QUICK_POLLER)
        try:
            result = poller.read(address_of(emulator))
        finally:
            poller.close()
    assert result.reading["inverter_clock_skew_s"] == pytest.approx(-600, abs=5)


def test_shared_poller_is_reused_for_the_same_settings():
    try:
        a = shared_poller(timeout_s=0.5)
        assert shared_poller(timeout_s=0.5) is a
        b = shared_poller(timeout_s=0.7)
        assert b is not a
        with pytest.raises(RuntimeError):
            a.poll([])
    finally:
        close_shared_pollers()


def test_duplicate_addresses_are_polled_once(tcp):
    emulator = tcp("9010KETU23EM0701")
    with EmulatorThread(emulator):
        address = address_of(emulator)
        poller = SyncInverterPoller(**QUICK_POLLER)
        try:
            results = poller.poll([address, InverterAddress(address.host, address.port, "EH")])
        finally:
            poller.close()
    assert [r.address for r in results] == [address]
    assert emulator.stats.by_block[35100] == 1
