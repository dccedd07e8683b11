"""Real inverter bytes end to end: captured GW10K-ET / GW20K-ET frames replayed over real sockets.

The frames are the ``goodwe`` project's own test data (MIT), kept read-only in
``shared/goodwe-samples/`` beside the repository clone.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import goodwe
import pytest
from goodwe.et import ET
from goodwe.protocol import ModbusRtuReadCommand, ProtocolResponse

from goodwe_pipeline.common.settings import InverterAddress
from goodwe_pipeline.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    free_loopback_udp_host,
)
from goodwe_pipeline.emulator import protocol as wire
from goodwe_pipeline.emulator.server import Reply
from goodwe_pipeline.ingest.inverters import InverterPoller
from goodwe_pipeline.readings import FIELD_NAMES, from_goodwe
from goodwe_pipeline_tests.samples import SAMPLES, needs_samples

TZ = "Europe/Warsaw"

pytestmark = needs_samples

MODELS = {
    "GW10K-ET": {
        (35000, 33): "GW10K-ET_device_info_fw617.hex",
        (35100, 125): "GW10K-ET_running_data.hex",
        (36000, 45): "GW10K-ET_meter_data.hex",
        (37000, 24): "GW10K-ET_battery_info.hex",
    },
    "GW20K-ET": {
        (35000, 33): "GW20K-ET_device_info.hex",
        (35100, 125): "GW20K-ET_running_data.hex",
        (36000, 125): "GW20K-ET_meter_data.hex",
        (37000, 24): "GW20K-ET_battery_info.hex",
        (35301, 61): "GW20K-ET_mppt_data.hex",
    },
}


def load_frames(model: str) -> dict[tuple[int, int], bytes]:
    return {
        block: bytes.fromhex((SAMPLES / name).read_text().strip())
        for block, name in MODELS[model].items()
    }


class ReplayInverter(Emulator):
    """Answers each read with the captured frame for exactly that block; exception 2
    (ILLEGAL DATA ADDRESS) for anything else, such as the 47547 / 47589 probes."""

    def __init__(self, frames: dict[tuple[int, int], bytes], config: EmulatorConfig):
        super().__init__(config)
        self.frames = frames

    def answer(self, request: wire.Request) -> Reply:
        frame = self.frames.get((request.start, request.count))
        if frame is None:
            return Reply(exception=wire.ILLEGAL_DATA_ADDRESS)
        return Reply(data=frame[5:-2])


@pytest.mark.parametrize("model", MODELS)
def test_captured_frames_are_valid_and_replayed_byte_for_byte(model):
    for (start, count), frame in load_frames(model).items():
        assert ModbusRtuReadCommand(0xF7, start, count).validator(frame)
        assert wire.rtu_response(0xF7, frame[5:-2]) == frame


def _offline_decoding(inverter: ET, frames: dict[tuple[int, int], bytes]) -> dict:
    """The library's own decoding of the captured bytes, block by block as it reads them."""
    sensor_lists = {
        35100: inverter._sensors,
        37000: inverter._sensors_battery,
        36000: inverter._sensors_meter,
        35301: inverter._sensors_mppt,
    }
    data: dict = {}
    for (start, count), frame in frames.items():
        if start in sensor_lists:
            response = ProtocolResponse(frame, ModbusRtuReadCommand(0xF7, start, count))
            data.update(ET._map_response(response, sensor_lists[start]))
    return data


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("model", MODELS)
def test_canonical_reading_equals_the_librarys_decoding_of_real_bytes(model, transport):
    frames = load_frames(model)
    device = frames[(35000, 33)][5:-2]
    serial = ET._decode(device[6:22])
    model_in_frame = ET._decode(device[22:32])  # GW20K-ET sends zero bytes: ""
    config = (
        EmulatorConfig(host=free_loopback_udp_host(), serial=serial, model=model)
        if transport == "udp"
        else EmulatorConfig(udp_port=None, tcp_port=0, serial=serial, model=model)
    )
    replay = ReplayInverter(frames, config)

    async def read():
        host, port = replay.udp_address or replay.tcp_address
        inverter = await goodwe.connect(host, port, family="ET", timeout=0.5, retries=2)
        library_data = await inverter.read_runtime_data()
        poller = InverterPoller(timeout_s=0.5, retries=2, timezone=TZ)
        result = await poller.read(InverterAddress(host, port, "ET"))
        await poller.close()
        return inverter, library_data, result

    with EmulatorThread(replay):
        inverter, library_data, result = asyncio.run(read())

    assert inverter.serial_number == serial and inverter.model_name == model_in_frame
    offline = _offline_decoding(inverter, frames)
    assert library_data == offline
    assert result.ok, result.error
    reading = result.reading
    expected = from_goodwe(offline, serial, reading["time"], inverter_timezone=TZ)
    for name in FIELD_NAMES:
        assert _same(reading[name], expected[name]), name
    assert reading["device_id"] == serial
    assert reading["pv_power_w"] == float(offline["ppv"]) and reading["pv_power_w"] > 0
    assert reading["battery_soc_pct"] == float(offline["battery_soc"])
    assert reading["grid_power_w"] == float(offline["active_power"])
    assert reading["load_power_w"] == float(offline["house_consumption"])
    assert reading["inverter_clock_skew_s"] < 0  # the frames were captured years ago
    assert reading["time"] <= datetime.now(UTC)
