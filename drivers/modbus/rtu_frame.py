"""Modbus RTU frames of the four read functions: building requests, checking replies (pure, no I/O).

RTU carries no transaction id. A reply names only its unit, its function and its byte count, so these are
all a master can hold a reply against; the line discipline in `rtu.py` makes sure no older reply is ever
waiting on the line when a request goes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Read functions: 1 coils, 2 discrete inputs, 3 holding registers, 4 input registers.
BIT_FUNCTIONS: Final = frozenset({1, 2})
REGISTER_FUNCTIONS: Final = frozenset({3, 4})
EXCEPTION_BIT: Final = 0x80
#: A reply's byte count is one byte, and no read returns more than 250 data bytes (125 registers).
MAX_DATA_BYTES: Final = 250


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc16(data: bytes | bytearray) -> bytes:
    """The Modbus CRC of `data` as it goes on the wire (low byte first)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc.to_bytes(2, "little")


def read_request(unit: int, function: int, address: int, count: int) -> bytes:
    """The frame asking `unit` for `count` registers or bits from `address`."""
    body = bytes([unit, function]) + address.to_bytes(2, "big") + count.to_bytes(2, "big")
    return body + crc16(body)


def data_bytes(function: int, count: int) -> int:
    """The byte count a correct reply to a read of `count` registers or bits carries."""
    return (count + 7) // 8 if function in BIT_FUNCTIONS else 2 * count


def crc_ok(frame: bytes | bytearray) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == frame[-2:]


def unpack(function: int, data: bytes, count: int) -> list[int]:
    """Registers (big-endian words) or bits (0/1, least significant bit first) of a reply's data."""
    if function in BIT_FUNCTIONS:
        return [(data[i // 8] >> (i % 8)) & 1 for i in range(count)]
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 2 * count, 2)]


@dataclass(frozen=True, slots=True)
class HeardFrame:
    """A complete, CRC-valid reply frame found in bytes nobody was waiting for."""

    unit: int
    function: int
    offset: int


def find_frames(data: bytes) -> tuple[list[HeardFrame], int]:
    """The valid read replies and exception replies in `data`, and how many bytes were none of them.

    Used on what the line carried while nobody was waiting (a late reply, noise): frames found are
    counted against the unit that sent them, the rest is noise.
    """
    frames: list[HeardFrame] = []
    noise = 0
    at = 0
    while at < len(data):
        length = _frame_length_at(data, at)
        if length and crc_ok(data[at : at + length]):
            frames.append(HeardFrame(data[at], data[at + 1] & ~EXCEPTION_BIT, at))
            at += length
        else:
            noise += 1
            at += 1
    return frames, noise


def _frame_length_at(data: bytes, at: int) -> int | None:
    if len(data) - at < 5:
        return None
    function = data[at + 1]
    if function & EXCEPTION_BIT and function & ~EXCEPTION_BIT in BIT_FUNCTIONS | REGISTER_FUNCTIONS:
        return 5
    if function in BIT_FUNCTIONS | REGISTER_FUNCTIONS and data[at + 2] <= MAX_DATA_BYTES:
        length = 5 + data[at + 2]
        return length if len(data) - at >= length else None
    return None
