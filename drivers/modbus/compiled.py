"""A channel's decoding compiled once per device: the poll's hot path.

`decoder.py` says what a channel's words mean (`_raw_value`, `_reading`: the reference). Asking it per value
walks the channel spec every poll: which type, which order, scaled or not, and pymodbus' generic converter
builds a byte string word by word. Here each channel gets, when its device is made, an unpacker (a word
permutation and one `struct` format) and, for the common channel (a number with scale, offset and range,
nothing read from other channels), a reading builder with its scaling folded in. Everything else (strings,
bits and bytes of a register, decimals or units from other channels, enums, device status flags) keeps the
reference path. The results are the reference's, value for value: tests/drivers/modbus/test_compiled.py
compares both on every channel of every shipped profile.

The common reading is built without pydantic's validation (5 µs a value), because what it holds is valid
by construction: a finite float or an int64, the unit of a validated profile, quality good. Anything that is
not good (non-finite, out of range) goes through the validating constructor as before.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Final

from drivers.modbus.codec import DecodeError
from pantau.contract import Quality, Reading, Reason
from pantau.contract.fields import INT64_MAX, INT64_MIN
from pantau.profiles.modbus.profile import ByteOrder, ChannelSpec, DataType

#: What a channel's words decode to before scaling.
RawValue = int | float | str
Unpacker = Callable[[list[int]], RawValue]
ReadingBuilder = Callable[[RawValue], Reading]

#: struct formats of the types whose bytes are one big-endian number once the words are in order.
_STRUCT: Final = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}
_GOOD: Final = Quality.GOOD


def good_reading(value: int | float, unit: str | None) -> Reading:
    """`Reading(value=value, unit=unit)` for a finite float or an int64 and a profile's (validated) unit,
    without running the validators that could not fail on it.

    pydantic's own `model_construct` is slower than validating (it sets defaults field by field); this fills
    the instance as validation would. test_compiled.py checks the result against the validated reading in
    every respect pantau uses (equality, JSON, fields set), so a pydantic that stores models differently
    fails there, not in the field.
    """
    reading = object.__new__(Reading)
    state = {"value": value, "text": None, "unit": unit, "quality": _GOOD, "reason": None, "detail": None}
    object.__setattr__(reading, "__dict__", state)
    object.__setattr__(reading, "__pydantic_fields_set__", {"value", "unit"})  # a set: model_copy adds to it
    object.__setattr__(reading, "__pydantic_extra__", None)
    object.__setattr__(reading, "__pydantic_private__", None)
    return reading


def compile_unpacker(spec: ChannelSpec, reference: Unpacker) -> Unpacker:
    """The channel's words -> its raw value, with one struct call; `reference` for types without a fast
    path, and for any word it refuses (so the error is the reference's, word for word)."""
    code = _STRUCT.get(spec.type)
    if code is None:
        return reference
    count = spec.register_count
    if count == 1 and spec.order in (ByteOrder.ABCD, ByteOrder.CDAB):  # one word, its bytes in order
        return _one_word(signed=spec.type is DataType.INT16, reference=reference)
    swap_words = spec.order in (ByteOrder.CDAB, ByteOrder.DCBA)
    swap_bytes = spec.order in (ByteOrder.BADC, ByteOrder.DCBA)
    words_format = struct.Struct(f"{'<' if swap_bytes else '>'}{count}H")
    value_format = struct.Struct(f">{code}")
    float32 = spec.type is DataType.FLOAT32

    def unpack(words: list[int]) -> RawValue:
        if len(words) != count:
            return reference(words)  # raises the reference's DecodeError
        try:
            # A byte swap of every word is the words packed little-endian; a word swap is their reverse.
            packed = words_format.pack(*(words[::-1] if swap_words else words))
        except struct.error:
            return reference(words)  # a word outside 0..65535: the reference names it
        value: int | float = value_format.unpack(packed)[0]
        if float32:
            # As the reference: float32 carries ~7 significant digits, shown without its binary tail.
            return float(f"{value:.7g}")
        return value

    return unpack


def _one_word(*, signed: bool, reference: Unpacker) -> Unpacker:
    """A 16-bit register as it is (uint16) or as two's complement (int16): no bytes packed and unpacked."""

    def unpack(words: list[int]) -> RawValue:
        if len(words) != 1 or not 0 <= words[0] <= 0xFFFF:
            return reference(words)  # raises the reference's DecodeError, word for word
        word = words[0]
        return word - 0x10000 if signed and word & 0x8000 else word

    return unpack


def compile_reading(spec: ChannelSpec) -> ReadingBuilder | None:
    """The reading of a plain number (scale, offset, range, nothing else), or None: the reference decides."""
    if (
        spec.type in (DataType.STRING, DataType.INT8, DataType.UINT8)
        or spec.decimals_from is not None
        or spec.unit_from is not None
        or spec.enum is not None
        or spec.invalid_when
    ):
        return None
    unit, scale, offset, bounds = spec.unit, spec.scale, spec.offset, spec.range
    is_float = spec.type.is_float
    exact = scale.is_integer() and offset.is_integer()
    int_scale, int_offset = (int(scale), int(offset)) if exact else (1, 0)
    low, high = bounds if bounds is not None else (-math.inf, math.inf)

    def checked(value: int | float) -> Reading:
        if low <= value <= high:
            return good_reading(value, unit)
        # Out of the physical range: the reference's suspect reading, with its detail.
        detail = f"{value:g} outside the physical range {low:g}..{high:g}"
        return good_reading(value, unit).model_copy(
            update={"quality": Quality.SUSPECT, "reason": Reason.OUT_OF_PHYSICAL_RANGE, "detail": detail}
        )

    def reading(raw: RawValue) -> Reading:
        if isinstance(raw, str):  # pragma: no cover - strings never get here (compile_reading refuses them)
            raise DecodeError(f"channel '{spec.id}' decoded to text")
        if is_float:
            if not math.isfinite(raw):
                return Reading.measured(raw, unit)
        elif exact:
            whole = raw * int_scale + int_offset  # an integer stays exact end to end
            if INT64_MIN <= whole <= INT64_MAX:
                return checked(whole)
        as_read = float(raw)
        value = as_read * scale + offset
        if not math.isfinite(value):  # a huge float64 times its scale: over range, never a crash
            return Reading.measured(value, unit)
        if value != as_read:  # only arithmetic leaves binary noise; an untouched value passes as read
            value = float(f"{value:.12g}")
        return checked(value)

    return reading
