"""The ET-family register map, built from the ``goodwe`` library's own sensor definitions.

Each value is encoded at its sensor's offset with the sensor's own encoding, so
what the emulator serves decodes exactly as a real inverter's bytes do. The
sensor lists are private, name-mangled attributes of ``goodwe.et.ET``; the
library is pinned (``goodwe==0.4.10``) and ``et_sensor_lists`` fails loudly if
they ever move.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from goodwe import sensor as gs
from goodwe.et import ET
from goodwe.inverter import Sensor

DEVICE_INFO_START = 35000
DEVICE_INFO_COUNT = 33

_SENSOR_LISTS = {
    "running": "_ET__all_sensors",
    "battery": "_ET__all_sensors_battery",
    "meter": "_ET__all_sensors_meter",
}

# Sensor classes whose ``encode_value`` the library implements. Its scaled encoders
# truncate (``int(value * 10)``), so values are nudged half a step away from zero
# first: the nearest step is what gets encoded.
_LIBRARY_ENCODED: dict[type, float] = {
    gs.Voltage: 10,
    gs.Current: 10,
    gs.CurrentS: 10,
    gs.Integer: 1,
    gs.IntegerS: 1,
    gs.Long: 1,
    gs.LongS: 1,
    gs.ByteH: 1,
    gs.ByteL: 1,
}

# (bytes, signed, scale) for the classes the library can decode but not encode.
_PACKED: dict[type, tuple[int, bool, float]] = {
    gs.Frequency: (2, True, 100),
    gs.Power: (2, False, 1),
    gs.PowerS: (2, True, 1),
    gs.Power4: (4, False, 1),
    gs.Power4S: (4, True, 1),
    gs.Energy: (2, False, 10),
    gs.Energy4: (4, False, 10),
    gs.Energy4W: (4, False, 1000),
    gs.Energy8: (8, False, 100),
    gs.Apparent: (2, True, 1),
    gs.Apparent4: (4, True, 1),
    gs.Reactive: (2, True, 1),
    gs.Reactive4: (4, True, 1),
    gs.Temp: (2, True, 10),
    gs.CellVoltage: (2, False, 1000),
}

# Labels and calculated values: decoded from registers that other sensors fill.
_DERIVED = (
    gs.Calculated,
    gs.EnumCalculated,
    gs.Enum,
    gs.EnumH,
    gs.EnumL,
    gs.Enum2,
    gs.EnumBitmap4,
    gs.EnumBitmap22,
)


def et_sensor_lists() -> dict[str, tuple[Sensor, ...]]:
    """The ET running-data, battery and meter sensor lists of the pinned library."""
    lists = {}
    for name, attribute in _SENSOR_LISTS.items():
        sensors = getattr(ET, attribute, None)
        if not sensors:
            raise RuntimeError(
                f"goodwe.et.ET.{attribute} is missing: the emulator needs goodwe==0.4.10"
            )
        lists[name] = tuple(sensors)
    return lists


@dataclass(frozen=True)
class Block:
    """A contiguous register range the emulated inverter answers."""

    name: str
    start: int
    count: int
    sensors: tuple[Sensor, ...] = ()

    @property
    def end(self) -> int:
        return self.start + self.count

    def contains(self, start: int, count: int) -> bool:
        return self.start <= start and start + count <= self.end and count > 0


def et_blocks() -> tuple[Block, ...]:
    """What a GW10K-ET answers: device info, running data, meter (45 registers), battery."""
    lists = et_sensor_lists()
    return (
        Block("device_info", DEVICE_INFO_START, DEVICE_INFO_COUNT),
        Block("running", 35100, 125, lists["running"]),
        Block("meter", 36000, 45, tuple(s for s in lists["meter"] if s.offset < 36045)),
        Block("battery", 37000, 24, lists["battery"]),
    )


def encode_sensor(sensor: Sensor, value: Any, current: bytes) -> bytes:
    """The raw register bytes for ``value`` (``current`` holds the register's bytes so far)."""
    kind = type(sensor)
    if kind is gs.Timestamp:
        return sensor.encode_value(value)
    if kind is gs.Decimal:
        return sensor.encode_value(_nudge(float(value), sensor.scale))
    if kind in _LIBRARY_ENCODED:
        scaled = _nudge(float(value), _LIBRARY_ENCODED[kind])
        if kind in (gs.ByteH, gs.ByteL):
            return sensor.encode_value(int(scaled), current)
        return sensor.encode_value(scaled)
    if kind is gs.Float:
        return struct.pack(">f", float(value) * sensor.scale)
    if kind in _PACKED:
        size, signed, scale = _PACKED[kind]
        return int(round(float(value) * scale)).to_bytes(size, "big", signed=signed)
    raise TypeError(f"no encoding for {kind.__name__} sensor {sensor.id_!r}")


def _nudge(value: float, scale: float) -> float:
    steps = round(value * scale)
    return (steps + math.copysign(0.5, steps if steps else 1)) / scale


def is_encodable(sensor: Sensor) -> bool:
    return not isinstance(sensor, _DERIVED)


def encode_block(block: Block, values: Mapping[str, Any]) -> bytes:
    """The block's registers with every known sensor value at its offset; the rest zero."""
    image = bytearray(block.count * 2)
    for sensor in block.sensors:
        if not is_encodable(sensor) or values.get(sensor.id_) is None:
            continue
        at = (sensor.offset - block.start) * 2
        raw = encode_sensor(sensor, values[sensor.id_], bytes(image[at : at + 2]))
        image[at : at + len(raw)] = raw
    return bytes(image)


@dataclass(frozen=True)
class DeviceInfo:
    """The 35000×33 block the library reads in ``read_device_info``."""

    serial: str
    model: str
    rated_power: int
    modbus_version: int = 1
    ac_output_type: int = 1
    dsp1_version: int = 6
    dsp2_version: int = 6
    dsp_svn_version: int = 152
    arm_version: int = 17
    arm_svn_version: int = 192
    firmware: str = "04029-06-S11"
    arm_firmware: str = "02041-17-S00"

    def registers(self) -> bytes:
        words = b"".join(
            v.to_bytes(2, "big")
            for v in (self.modbus_version, self.rated_power, self.ac_output_type)
        )
        versions = b"".join(
            v.to_bytes(2, "big")
            for v in (
                self.dsp1_version,
                self.dsp2_version,
                self.dsp_svn_version,
                self.arm_version,
                self.arm_svn_version,
            )
        )
        return (
            words
            + _ascii(self.serial, 16)
            + _ascii(self.model, 10)
            + versions
            + _ascii(self.firmware, 12)
            + _ascii(self.arm_firmware, 12)
        )


def _ascii(text: str, size: int) -> bytes:
    encoded = text.encode("ascii")
    if len(encoded) > size:
        raise ValueError(f"{text!r} is longer than {size} characters")
    return encoded.ljust(size, b" ")


def read_registers(
    blocks: tuple[Block, ...], images: Mapping[str, bytes], start: int, count: int
) -> bytes | None:
    """``count`` registers from ``start``, or ``None`` when no block holds the whole range."""
    for block in blocks:
        if block.contains(start, count):
            at = (start - block.start) * 2
            return images[block.name][at : at + count * 2]
    return None
