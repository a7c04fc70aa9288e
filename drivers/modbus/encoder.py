"""Values -> register words: the inverse of the codec, for simulators and the technician's test bench.

`register_image` lays out a whole profile's channels from engineering values, undoing scale, offset,
decimal places and unit codes, so a simulated device answers exactly what a real one would.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Final

from drivers.modbus.codec import to_big_endian
from pantau.profiles.modbus.profile import (
    ByteOrder,
    ChannelSpec,
    DataType,
    ModbusProfile,
    RegisterByte,
    Table,
)

_STRUCT: Final = {
    DataType.INT8: ">b",
    DataType.UINT8: ">B",
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.INT64: ">q",
    DataType.UINT64: ">Q",
    DataType.FLOAT16: ">e",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
}
#: Types that fill only part of a register: a simulator ORs them into the word they share.
_SHARED_WORD: Final = (DataType.BIT, DataType.INT8, DataType.UINT8)


class EncodeError(ValueError):
    """A value that the declared register type cannot hold."""


def encode_number(value: float, dtype: DataType, order: ByteOrder = ByteOrder.ABCD) -> list[int]:
    """Words of `value` as `dtype` in byte order `order` (integers are rounded)."""
    packed = _pack(value, dtype)
    big_endian = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
    return from_big_endian(big_endian, order)


def from_big_endian(words: list[int], order: ByteOrder) -> list[int]:
    """Inverse of codec.to_big_endian (each swap is its own inverse, applied in reverse order)."""
    reordered = list(words)
    if order in (ByteOrder.BADC, ByteOrder.DCBA):
        reordered = [((w & 0xFF) << 8) | (w >> 8) for w in reordered]
    if order in (ByteOrder.CDAB, ByteOrder.DCBA):
        reordered.reverse()
    assert to_big_endian(reordered, order) == words  # noqa: S101 - cheap self-check of the inverse
    return reordered


def encode_byte(value: float, dtype: DataType, byte: RegisterByte) -> int:
    """The word holding int8/uint8 `value` in its high or low byte (the other byte 0)."""
    packed = _pack(value, dtype)[0]
    return packed << 8 if byte is RegisterByte.HIGH else packed


def encode_string(
    text: str, length: int, order: ByteOrder = ByteOrder.ABCD, byte: RegisterByte | None = None
) -> list[int]:
    raw = text.encode("ascii")
    if byte is not None:  # one character per register
        if len(raw) > length:
            raise EncodeError(f"{text!r} does not fit in {length} registers of one character")
        chars = raw.ljust(length, b"\x00")
        return [c << 8 if byte is RegisterByte.HIGH else c for c in chars]
    if len(raw) > 2 * length:
        raise EncodeError(f"{text!r} does not fit in {length} registers")
    raw = raw.ljust(2 * length, b"\x00")
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    swap = order in (ByteOrder.BADC, ByteOrder.DCBA)
    return [((w & 0xFF) << 8) | (w >> 8) for w in words] if swap else words


def raw_for(spec: ChannelSpec, value: float, values: Mapping[str, float | str]) -> float:
    """The raw register number a device sends for engineering `value` (undoes unit, scale, decimals)."""
    untouched = (spec.scale, spec.offset) == (1.0, 0.0) and spec.unit_from is None and not spec.decimals_from
    if isinstance(value, int) and untouched:
        return value  # exact: a 64-bit counter past 2**53 must not pass through a float
    raw = value
    if spec.unit_from is not None:
        code = int(values[spec.unit_from.channel])
        raw /= spec.unit_from.factors[code]
    raw = (raw - spec.offset) / spec.scale
    if spec.decimals_from is not None:
        raw *= 10 ** int(values[spec.decimals_from])
    return raw


def register_image(profile: ModbusProfile, values: Mapping[str, float | str]) -> dict[Table, dict[int, int]]:
    """Wire address -> word (or bit) per table for every channel given in `values`.

    Bit channels of a register are OR-ed into that register's word, so a status word and its bits agree.
    """
    image: dict[Table, dict[int, int]] = {table: {} for table in Table}
    for spec in profile.channels:
        if spec.id not in values:
            continue
        address = profile.wire_address(spec)
        words = channel_words(spec, values[spec.id], values)
        table = image[spec.table]
        if spec.type in _SHARED_WORD and not spec.table.is_bits:
            table[address] = table.get(address, 0) | words[0]
            continue
        for offset, word in enumerate(words):
            table[address + offset] = word
    return image


def channel_words(spec: ChannelSpec, value: float | str, values: Mapping[str, float | str]) -> list[int]:
    """The words (or one bit) a device sends for one channel's value."""
    if spec.type is DataType.STRING:
        return encode_string(str(value), spec.length or 0, spec.order, spec.byte)
    if isinstance(value, str):
        raise EncodeError(f"channel '{spec.id}' is numeric, got text {value!r}")
    if spec.type is DataType.BIT:
        bit = int(bool(value))
        return [bit] if spec.table.is_bits else [bit << (spec.bit or 0)]
    if spec.type in (DataType.INT8, DataType.UINT8) and spec.byte is not None:
        return [encode_byte(raw_for(spec, value, values), spec.type, spec.byte)]
    return encode_number(raw_for(spec, value, values), spec.type, spec.order)


def _pack(value: float, dtype: DataType) -> bytes:
    if dtype is DataType.BIT or dtype is DataType.STRING:
        raise EncodeError(f"{dtype} is not a number type")
    number: float | int = value if dtype.is_float else round(value)
    try:
        return struct.pack(_STRUCT[dtype], number)
    except (struct.error, OverflowError) as exc:
        raise EncodeError(f"{value!r} does not fit {dtype}") from exc
