"""The inverter emulator against the real ``goodwe`` library over real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import goodwe
import pytest
from goodwe.et import ET
from goodwe.exceptions import RequestFailedException, RequestRejectedException
from goodwe.inverter import Sensor
from goodwe.protocol import ModbusRtuReadCommand, ProtocolResponse

from goodwe_pipeline.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    Faults,
    Household,
    HouseholdConfig,
    free_loopback_udp_host,
)
from goodwe_pipeline.emulator import protocol as wire
from goodwe_pipeline.emulator.registers import encode_block, et_blocks, et_sensor_lists

WARSAW = ZoneInfo("Europe/Warsaw")
QUICK_CONNECT = {"timeout": 1.0, "retries": 3}
"""``goodwe.connect`` options for an emulator on this machine: a silent one fails in seconds."""

# Values on each sensor's own grid, covering every encoding the ET blocks use.
SERVED = {
    "timestamp": datetime(2025, 6, 21, 12, 34, 56),
    "vpv1": 512.3,
    "ipv1": 7.4,
    "ppv1": 3791,
    "vpv2": 498.7,
    "ipv2": 6.1,
    "ppv2": 3042,
    "pv1_mode": 2,
    "pv2_mode": 1,
    "vgrid": 231.4,
    "fgrid": 49.98,
    "pgrid": -412,
    "active_power": -1234,
    "reactive_power": -56,
    "apparent_power": 1300,
    "load_ptotal": 5000,
    "temperature": 41.7,
    "temperature_air": -3.5,
    "vbattery1": 452.6,
    "ibattery1": -12.3,
    "pbattery1": -5567,
    "battery_mode": 3,
    "work_mode": 1,
    "error_codes": 65536,
    "e_total": 12345.6,
    "e_day": 23.4,
    "e_total_exp": 5432.1,
    "h_total": 8761,
    "e_day_exp": 7.8,
    "e_total_imp": 3210.9,
    "e_day_imp": 1.2,
    "e_load_total": 9876.5,
    "e_load_day": 14.3,
    "e_bat_charge_total": 2100.4,
    "e_bat_charge_day": 6.6,
    "e_bat_discharge_total": 1950.2,
    "e_bat_discharge_day": 4.4,
    "battery_temperature": -5.5,
    "battery_soc": 87,
    "battery_soh": 98,
    "battery_max_cell_voltage": 3.352,
    "meter_power_factor": -0.987,
    "meter_freq": 50.01,
    "meter_e_total_exp": 5432.125,
    "meter_active_power_total": -1234,
    "meter_reactive_power_total": -321,
    "meter_apparent_power_total": 1270,
}


def run(coro):
    return asyncio.run(coro)


async def connect_and_read(host: str, port: int, family: str | None, **kwargs):
    inverter = await goodwe.connect(host, port, family=family, **{**QUICK_CONNECT, **kwargs})
    return inverter, await inverter.read_runtime_data()


@pytest.fixture
def udp_host() -> str:
    return free_loopback_udp_host()


def test_library_sensor_lists_exist():
    for attribute in ("_ET__all_sensors", "_ET__all_sensors_battery", "_ET__all_sensors_meter"):
        sensors = getattr(ET, attribute)
        assert sensors and all(isinstance(s, Sensor) for s in sensors)
    lists = et_sensor_lists()
    assert {"ppv1", "pbattery1", "active_power", "e_day"} <= {s.id_ for s in lists["running"]}
    assert "battery_soc" in {s.id_ for s in lists["battery"]}
    assert "meter_active_power_total" in {s.id_ for s in lists["meter"]}


def test_blocks_decode_offline_as_served():
    """Encode every block, decode it with the library's own ``_map_response``."""
    decoded = {}
    for block in et_blocks()[1:]:
        frame = wire.rtu_response(0xF7, encode_block(block, SERVED))
        command = ModbusRtuReadCommand(0xF7, block.start, block.count)
        assert command.validator(frame)
        decoded.update(ET._map_response(ProtocolResponse(frame, command), block.sensors))
    for key, value in SERVED.items():
        assert decoded[key] == value, key
    assert decoded["ppv"] == SERVED["ppv1"] + SERVED["ppv2"]
    assert decoded["house_consumption"] == 3791 + 3042 - 5567 + 1234
    assert decoded["battery_mode_label"] == "Charge"


def test_protocol_frames_are_what_the_library_sends_and_accepts():
    request = ModbusRtuReadCommand(0xF7, 35100, 125).request
    parsed = wire.parse_rtu_request(request)
    assert parsed == wire.Request(0xF7, 3, 35100, 125)
    assert wire.parse_rtu_request(request[:-1] + b"\x00") is None
    command = ModbusRtuReadCommand(0xF7, 47547, 6)
    with pytest.raises(RequestRejectedException) as rejected:
        command.validator(wire.rtu_exception(0xF7, 3, wire.ILLEGAL_DATA_ADDRESS))
    assert rejected.value.message == "ILLEGAL DATA ADDRESS"
    good = wire.rtu_response(0xF7, bytes(12))
    assert command.validator(good)
    assert not command.validator(wire.corrupt_crc(good))
    assert goodwe.DISCOVERY_COMMAND.validator(
        wire.discovery_response("GW10K-ET", "9010KETU23EM0001")
    )


def _walk(household: Household, until: datetime, step: timedelta):
    while household.time < until:
        household.advance(household.time + step)
        yield household


def test_household_obeys_physics_over_two_days():
    config = HouseholdConfig(soc_start_pct=15.0)
    start = datetime(2025, 5, 1, tzinfo=WARSAW)
    house = Household(config, start)
    lifetime = dict(house.lifetime_kwh)
    days_seen = {house.local_time().date()}
    previous_today = dict(house.today_kwh)
    soc_seen = []
    for h in _walk(house, start + timedelta(days=2), timedelta(seconds=97)):
        p = h.powers
        assert p.pv + p.battery - p.grid == pytest.approx(p.load)
        assert config.soc_min_pct - 1e-9 <= h.soc_pct <= config.soc_max_pct + 1e-9
        soc_seen.append(h.soc_pct)
        for name, value in h.lifetime_kwh.items():
            assert value >= lifetime[name]
        lifetime = dict(h.lifetime_kwh)
        values = h.sensor_values()
        assert (
            values["ppv1"] + values["ppv2"] + values["pbattery1"] - values["active_power"]
            == (values["load_ptotal"])
        )
        day = h.local_time().date()
        if day not in days_seen:
            days_seen.add(day)
            assert h.today_kwh["pv"] == 0.0 and h.today_kwh["load"] < previous_today["load"]
        previous_today = dict(h.today_kwh)
    assert max(soc_seen) > 90 and min(soc_seen) < 20
    assert len(days_seen) == 3
    assert house.lifetime_kwh["pv"] - config.lifetime_start_kwh["pv"] > 20


def test_household_counters_integrate_powers_on_a_dst_day():
    start = datetime(2025, 10, 26, tzinfo=WARSAW)  # 25 hours long
    house = Household(HouseholdConfig(), start)
    pv_wh = 0.0
    step = timedelta(seconds=10)
    for h in _walk(house, start.astimezone(UTC) + timedelta(hours=24, minutes=59), step):
        pv_wh += h.powers.pv * step.total_seconds() / 3600
    assert house.local_time().date() == date(2025, 10, 26)
    assert house.today_kwh["pv"] == pytest.approx(pv_wh / 1000, rel=0.01)


@pytest.mark.parametrize("family", ["ET", None])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_real_library_reads_what_the_emulator_serves(transport, family, udp_host):
    config = (
        EmulatorConfig(host=udp_host)
        if transport == "udp"
        else EmulatorConfig(udp_port=None, tcp_port=0)
    )
    emulator = Emulator(config)
    emulator.set_values(SERVED)
    with EmulatorThread(emulator):
        host, port = emulator.udp_address or emulator.tcp_address
        inverter, data = run(connect_and_read(host, port, family))
    assert isinstance(inverter, ET)
    assert inverter.serial_number == config.serial
    assert inverter.model_name == "GW10K-ET"
    assert inverter.rated_power == 10000
    for key, value in SERVED.items():
        if key in data:
            assert data[key] == value, key
    assert data["battery_soc"] == 87 and data["pbattery1"] == -5567
    assert emulator.stats.by_block.get(47547) and emulator.stats.by_block.get(47589)


def test_side_by_side_instances_answer_with_their_own_serials():
    hosts = [free_loopback_udp_host()]
    hosts.append(free_loopback_udp_host(first=int(hosts[0].rsplit(".", 1)[1]) + 1))
    emulators = [
        Emulator(EmulatorConfig(host=hosts[0], serial="9010KETU23EM0101")),
        Emulator(EmulatorConfig(host=hosts[1], serial="9010KETU23EM0102")),
        Emulator(EmulatorConfig(udp_port=None, tcp_port=0, serial="9010KETU23EM0103")),
        Emulator(EmulatorConfig(udp_port=None, tcp_port=0, serial="9010KETU23EM0104")),
    ]

    async def read_all():
        addresses = [e.udp_address or e.tcp_address for e in emulators]
        inverters = await asyncio.gather(
            *(goodwe.connect(h, p, family="ET", **QUICK_CONNECT) for h, p in addresses)
        )
        return [i.serial_number for i in inverters]

    with EmulatorThread(*emulators):
        assert run(read_all()) == [e.config.serial for e in emulators]


def _raw_udp(host: str, payload: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(payload, (host, 8899))
        return sock.recvfrom(1024)[0]


def _raw_tcp(address: tuple[str, int], payload: bytes) -> bytes:
    with socket.create_connection(address, timeout=2) as sock:
        sock.sendall(payload)
        return sock.recv(1024)


def test_unsupported_registers_answer_exception_2(udp_host):
    emulator = Emulator(EmulatorConfig(host=udp_host, tcp_port=0))
    with EmulatorThread(emulator):
        for start in (47547, 47589, 30001, 35090, 36040):
            request = ModbusRtuReadCommand(0xF7, start, 6).request
            assert _raw_udp(udp_host, request) == wire.rtu_exception(0xF7, 3, 2)
            tcp_request = (
                b"\x00\x07\x00\x00\x00\x06\xf7\x03" + start.to_bytes(2, "big") + b"\x00\x06"
            )
            assert (
                _raw_tcp(emulator.tcp_address, tcp_request)
                == b"\x00\x07\x00\x00\x00\x03\xf7\x83\x02"
            )
        probe = _raw_udp(udp_host, wire.DISCOVERY_REQUEST)
        assert probe[38:54] == b"9010KETU23EM0001"


def test_rejected_battery_block_reads_without_battery_values(udp_host):
    emulator = Emulator(EmulatorConfig(host=udp_host), faults=Faults(reject=frozenset({37000})))
    with EmulatorThread(emulator):
        _, data = run(connect_and_read(udp_host, 8899, "ET"))
        assert "battery_soc" not in data and data["pbattery1"] is not None
        emulator.faults.reject = frozenset({35100})
        with pytest.raises(RequestRejectedException):
            run(connect_and_read(udp_host, 8899, "ET"))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_dropped_requests_are_retried(transport, udp_host):
    config = (
        EmulatorConfig(host=udp_host, seed=3)
        if transport == "udp"
        else EmulatorConfig(udp_port=None, tcp_port=0, seed=3)
    )
    emulator = Emulator(config, faults=Faults(drop=0.3))

    async def read_many(host, port):
        inverter = await goodwe.connect(host, port, family="ET", timeout=0.15, retries=5)
        return [await inverter.read_runtime_data() for _ in range(8)]

    with EmulatorThread(emulator):
        host, port = emulator.udp_address or emulator.tcp_address
        results = run(read_many(host, port))
    assert len(results) == 8 and all(r["e_total"] for r in results)
    assert emulator.stats.dropped >= 3


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_split_replies_are_reassembled(transport, udp_host):
    config = (
        EmulatorConfig(host=udp_host)
        if transport == "udp"
        else EmulatorConfig(udp_port=None, tcp_port=0)
    )
    emulator = Emulator(config, faults=Faults(split=1.0))
    emulator.set_values(SERVED)
    with EmulatorThread(emulator):
        host, port = emulator.udp_address or emulator.tcp_address
        _, data = run(connect_and_read(host, port, "ET"))
    assert data["e_total"] == SERVED["e_total"] and data["battery_soc"] == 87


def test_bad_crc_is_retried_then_fails_like_the_library_does(udp_host):
    emulator = Emulator(EmulatorConfig(host=udp_host, seed=5), faults=Faults(corrupt=0.3))
    with EmulatorThread(emulator):
        _, data = run(connect_and_read(udp_host, 8899, "ET", retries=6))
        assert data["e_total"]
        emulator.faults.corrupt = 1.0
        with pytest.raises(RequestFailedException):
            run(connect_and_read(udp_host, 8899, "ET"))


def test_bad_length_over_tcp_is_a_rejected_request():
    emulator = Emulator(EmulatorConfig(udp_port=None, tcp_port=0), faults=Faults(corrupt=1.0))
    with EmulatorThread(emulator):
        with pytest.raises(RequestRejectedException):
            run(connect_and_read(*emulator.tcp_address, "ET"))


@pytest.mark.parametrize(
    "faults", [Faults(silent=True), Faults(delay_s=0.5)], ids=["silent", "delay"]
)
def test_silent_or_late_inverter_fails_after_the_retries(faults, udp_host):
    emulator = Emulator(EmulatorConfig(host=udp_host), faults=faults)
    with EmulatorThread(emulator):
        with pytest.raises(RequestFailedException):
            run(connect_and_read(udp_host, 8899, "ET", timeout=0.1, retries=1))
        emulator.faults.silent = False
        emulator.faults.delay_s = 0.0
        _, data = run(connect_and_read(udp_host, 8899, "ET"))
    assert data["e_total"]


def test_accelerated_day_counters_agree_with_integrated_powers():
    """24 simulated hours in about 12 s: lifetime counters match the integral of the
    sampled powers within 2 % (plus one 0.1 kWh counter step), daily counters reset
    at local midnight."""
    start = datetime(2025, 4, 20, tzinfo=WARSAW)
    house = HouseholdConfig(battery_kwh=8.0, soc_start_pct=15.0)
    emulator = Emulator(
        EmulatorConfig(udp_port=None, tcp_port=0, start=start, speed=7200, household=house)
    )
    end_local = datetime(2025, 4, 21, 0, 15)

    async def sample(host, port):
        inverter = await goodwe.connect(host, port, family="ET", timeout=1, retries=3)
        inverter.set_keep_alive(True)
        rows = []
        try:
            while not rows or rows[-1]["timestamp"] < end_local:
                rows.append(await inverter.read_runtime_data())
        finally:
            await inverter._protocol.close()  # goodwe has no public close for keep-alive
        return rows

    with EmulatorThread(emulator):
        rows = run(sample(*emulator.tcp_address))
    day = [r for r in rows if r["timestamp"].date() == date(2025, 4, 20)]
    after = [r for r in rows if r["timestamp"].date() == date(2025, 4, 21)]
    assert len(day) > 100 and after
    flows = {
        "e_total": lambda r: r["ppv"],
        "e_load_total": lambda r: r["load_ptotal"],
        "e_total_exp": lambda r: max(r["active_power"], 0),
        "e_total_imp": lambda r: max(-r["active_power"], 0),
        "e_bat_charge_total": lambda r: max(-r["pbattery1"], 0),
        "e_bat_discharge_total": lambda r: max(r["pbattery1"], 0),
    }
    for counter, power in flows.items():
        integral_kwh = 0.0
        for a, b in zip(day, day[1:], strict=False):
            hours = (b["timestamp"] - a["timestamp"]).total_seconds() / 3600
            integral_kwh += (power(a) + power(b)) / 2 * hours / 1000
        delta = day[-1][counter] - day[0][counter]
        assert integral_kwh > 1, counter
        assert abs(delta - integral_kwh) <= 0.02 * integral_kwh + 0.1, (
            counter,
            delta,
            integral_kwh,
        )
    for r in rows:
        assert r["house_consumption"] == r["load_ptotal"]
    assert day[-1]["e_day"] == pytest.approx(day[-1]["e_total"] - 12345.6, abs=0.11)
    assert after[0]["e_load_day"] < 1.0 < day[-1]["e_load_day"]
    assert after[0]["e_load_total"] >= day[-1]["e_load_total"]


def test_cli_emulator_and_read_commands():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODWE_")}
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "goodwe_pipeline.cli",
            "emulator",
            "--port",
            "0",
            "--tcp",
            "--serial",
            "9010KETU23EM0042",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = emulator.stdout.readline()
        assert line.startswith("listening:"), line
        address = line.rsplit(" ", 1)[1].strip()
        read = subprocess.run(
            [sys.executable, "-m", "goodwe_pipeline.cli", "read", address, "--family", "ET"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert read.returncode == 0, read.stderr
        reading = json.loads(read.stdout)
        assert reading["device_id"] == "9010KETU23EM0042"
        assert reading["battery_soc_pct"] is not None and "pv_power_w" in reading
        wrong = subprocess.run(
            [sys.executable, "-m", "goodwe_pipeline.cli", "read", address, "--family", "DT"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert wrong.returncode == 1 and "family" in wrong.stderr
    finally:
        emulator.send_signal(signal.SIGINT)
        out, _ = emulator.communicate(timeout=20)
    assert emulator.returncode == 0
    assert "emulator stopped" in out


def test_start_in_the_past_runs_from_there():
    start = datetime(2024, 1, 15, 12, tzinfo=UTC)
    emulator = Emulator(EmulatorConfig(udp_port=None, start=start))
    served = emulator.values()["timestamp"]
    assert abs(served - datetime(2024, 1, 15, 13, 0)) < timedelta(minutes=1)
