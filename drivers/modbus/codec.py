"""Register words -> values. Pure functions, no I/O, table-tested.

Byte/word swaps are applied here; the arithmetic of each type is pymodbus' `convert_from_registers`
(its current API, not the deprecated payload decoder), always fed big-endian words.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from pymodbus.client.mixin import ModbusClientMixin

from pantau.profiles.modbus.profile import REGISTER_COUNT, ByteOrder, DataType, RegisterByte

_PYMODBUS_TYPE: Final = {
    DataType.INT16: ModbusClientMixin.DATATYPE.INT16,
    DataType.UINT16: ModbusClientMixin.DATATYPE.UINT16,
    DataType.INT32: ModbusClientMixin.DATATYPE.INT32,
    DataType.UINT32: ModbusClientMixin.DATATYPE.UINT32,
    DataType.INT64: ModbusClientMixin.DATATYPE.INT64,
    DataType.UINT64: ModbusClientMixin.DATATYPE.UINT64,
    DataType.FLOAT32: ModbusClientMixin.DATATYPE.FLOAT32,
    DataType.FLOAT64: ModbusClientMixin.DATATYPE.FLOAT64,
}


class DecodeError(ValueError):
    """Words that cannot be a value of the declared type (wrong count, out-of-range word)."""


def to_big_endian(words: Sequence[int], order: ByteOrder) -> list[int]:
    """Reorder words/bytes so the first word holds the most significant bytes (ABCD)."""
    ordered = list(words)
    if order in (ByteOrder.CDAB, ByteOrder.DCBA):
        ordered.reverse()
    if order in (ByteOrder.BADC, ByteOrder.DCBA):
        ordered = [((w & 0xFF) << 8) | (w >> 8) for w in ordered]
    return ordered


def decode_number(words: Sequence[int], dtype: DataType, order: ByteOrder = ByteOrder.ABCD) -> int | float:
    """A numeric register value. Floats may come back NaN/inf: quality is the caller's decision."""
    _check_words(words, REGISTER_COUNT[dtype])
    if dtype in (DataType.BIT, DataType.INT8, DataType.UINT8):
        msg = f"{dtype} is part of a register: decoded with decode_bit/decode_byte"
        raise DecodeError(msg)
    if dtype is DataType.FLOAT16:  # pymodbus has no half precision; struct does (IEEE 754 binary16)
        half: float = struct.unpack(">e", to_big_endian(words, order)[0].to_bytes(2, "big"))[0]
        # 5 significant digits tell every binary16 value apart (65504, 0.33325) without its binary tail.
        return float(f"{half:.5g}")
    # 16-bit values have no word order; a byte swap still applies (BADC/DCBA on one register).
    value = ModbusClientMixin.convert_from_registers(to_big_endian(words, order), _PYMODBUS_TYPE[dtype])
    if not isinstance(value, int | float):  # pragma: no cover - pymodbus returns scalars for scalar types
        raise DecodeError(f"pymodbus returned {type(value).__name__} for {dtype}")
    if dtype is DataType.FLOAT32:
        # float32 carries ~7 significant digits; showing 2.1730000972747803 for 2.173 helps nobody.
        return float(f"{value:.7g}")
    return value


def decode_byte(word: int, byte: RegisterByte, *, signed: bool) -> int:
    """The high or low byte of a register as uint8, or int8 (two's complement) when `signed`."""
    _check_words([word], 1)
    value = word >> 8 if byte is RegisterByte.HIGH else word & 0xFF
    return value - 0x100 if signed and value >= 0x80 else value


def decode_bit(word: int, bit: int) -> int:
    """One bit (0 = least significant) of a register."""
    _check_words([word], 1)
    return (word >> bit) & 1


def decode_string(
    words: Sequence[int], order: ByteOrder = ByteOrder.ABCD, byte: RegisterByte | None = None
) -> str:
    """Two ASCII characters per register, high byte first (BADC/DCBA swap them); or, given `byte`, one
    character per register in that byte (the other ignored). NUL/space padding dropped.

    Bytes outside printable ASCII become U+FFFD rather than failing: a serial number with one bad byte is
    still worth showing to a technician.
    """
    _check_words(words, len(words))
    # Word order is meaningless for text; only the byte swap applies.
    swapped = to_big_endian(
        words, ByteOrder.BADC if order in (ByteOrder.BADC, ByteOrder.DCBA) else ByteOrder.ABCD
    )
    if byte is not None:
        raw = bytes(w >> 8 if byte is RegisterByte.HIGH else w & 0xFF for w in swapped)
    else:
        raw = b"".join(w.to_bytes(2, "big") for w in swapped)
    text = raw.decode("ascii", errors="replace")
    return "".join(c if c.isprintable() else "\ufffd" for c in text.rstrip("\x00 ").lstrip("\x00"))


def _check_words(words: Sequence[int], expected: int) -> None:
    if len(words) != expected:
        raise DecodeError(f"expected {expected} registers, got {len(words)}")
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise DecodeError(f"register value {word} is not a 16-bit word")
