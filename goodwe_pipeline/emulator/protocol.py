"""Wire framing of a GoodWe inverter: Modbus RTU in AA55 frames (UDP), Modbus/TCP, AA55 discovery.

Pure functions, no I/O. Requests are parsed, responses built exactly as
``goodwe`` 0.4.10 validates them (see ``goodwe/modbus.py`` and ``protocol.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

READ = 0x03
ILLEGAL_FUNCTION = 1
ILLEGAL_DATA_ADDRESS = 2
AA55 = b"\xaa\x55"
DISCOVERY_REQUEST = bytes.fromhex("aa55c07f0102000241")
DISCOVERY_RESPONSE_TYPE = b"\x01\x82"


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/Modbus (init 0xFFFF, reflected poly 0xA001)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def crc_bytes(data: bytes) -> bytes:
    """The CRC as sent on the wire: low byte first."""
    return crc16_modbus(data).to_bytes(2, "little")


@dataclass(frozen=True)
class Request:
    """One Modbus request: unit address, function code, start register, register count."""

    unit: int
    function: int
    start: int
    count: int
    transaction: bytes = b"\x00\x00"


def parse_rtu_request(frame: bytes) -> Request | None:
    """A Modbus RTU request (8 bytes, CRC last, low byte first); ``None`` if malformed."""
    if len(frame) != 8 or crc_bytes(frame[:6]) != frame[6:]:
        return None
    return Request(
        unit=frame[0],
        function=frame[1],
        start=int.from_bytes(frame[2:4], "big"),
        count=int.from_bytes(frame[4:6], "big"),
    )


def rtu_response(unit: int, data: bytes) -> bytes:
    """``AA 55 unit 03 bytecount data crc``; the CRC covers everything after ``AA 55``."""
    body = bytes([unit, READ, len(data)]) + data
    return AA55 + body + crc_bytes(body)


def rtu_exception(unit: int, function: int, code: int) -> bytes:
    body = bytes([unit, function | 0x80, code])
    return AA55 + body + crc_bytes(body)


def corrupt_crc(frame: bytes) -> bytes:
    """The same frame with its CRC broken (a byte flipped in transit)."""
    return frame[:-1] + bytes([frame[-1] ^ 0xFF])


MBAP_HEADER = 6


def mbap_length(header: bytes) -> int:
    """Bytes following the 6-byte MBAP header (unit id included)."""
    return int.from_bytes(header[4:6], "big")


def parse_tcp_request(frame: bytes) -> Request | None:
    """A Modbus/TCP request: ``tid 0000 len unit fn start count``; ``None`` if malformed."""
    if len(frame) < 12 or frame[2:4] != b"\x00\x00":
        return None
    return Request(
        unit=frame[6],
        function=frame[7],
        start=int.from_bytes(frame[8:10], "big"),
        count=int.from_bytes(frame[10:12], "big"),
        transaction=frame[0:2],
    )


def tcp_response(transaction: bytes, unit: int, data: bytes) -> bytes:
    pdu = bytes([unit, READ, len(data)]) + data
    return transaction + b"\x00\x00" + len(pdu).to_bytes(2, "big") + pdu


def tcp_exception(transaction: bytes, unit: int, function: int, code: int) -> bytes:
    pdu = bytes([unit, function | 0x80, code])
    return transaction + b"\x00\x00" + len(pdu).to_bytes(2, "big") + pdu


def tcp_bad_length(frame: bytes) -> bytes:
    """A Modbus/TCP reply whose byte count disagrees with the request (TCP has no CRC)."""
    return frame[:8] + bytes([(frame[8] + 2) & 0xFF]) + frame[9:] + b"\x00\x00"


def aa55_checksum(data: bytes) -> bytes:
    return (sum(data) & 0xFFFF).to_bytes(2, "big")


def discovery_response(model: str, serial: str, firmware: str = "04029-06-S11") -> bytes:
    """Answer to the AA55 discovery probe (``aa55c07f0102000241``).

    The library reads the model at payload[5:15] and the serial at payload[31:47];
    the rest mirrors a real ESA answer (firmware strings, padded with spaces).
    """
    payload = (
        b"1717A"
        + _ascii(model, 10)
        + _ascii("#10", 16)
        + _ascii(serial, 16)
        + _ascii(firmware, 14)
        + b"\x00"
        + _ascii(firmware, 13)
        + b"\x03"
    )
    header = AA55 + b"\x7f\xc0" + DISCOVERY_RESPONSE_TYPE + bytes([len(payload)])
    frame = header + payload
    return frame + aa55_checksum(frame)


def _ascii(text: str, size: int) -> bytes:
    """ASCII padded with spaces: a byte below 0x20 would make the library decode UTF-16."""
    return text.encode("ascii")[:size].ljust(size, b" ")


def split_frame(frame: bytes) -> tuple[bytes, bytes]:
    """Two fragments, as a Wi-Fi dongle sometimes sends a long reply."""
    cut = max(6, len(frame) // 2)
    return frame[:cut], frame[cut:]
