"""Register words -> values, against hand-computed words (not against our own encoder)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.codec import DecodeError, decode_bit, decode_byte, decode_number, decode_string
from drivers.modbus.encoder import encode_byte, encode_number, encode_string
from pantau.profiles.modbus.profile import ByteOrder, DataType, RegisterByte

A, C, B, D = ByteOrder.ABCD, ByteOrder.CDAB, ByteOrder.BADC, ByteOrder.DCBA

CASES = [
    # (words, type, order, value) — words written out by hand from the IEEE 754 / two's complement layout.
    ([0x400B, 0x126F], DataType.FLOAT32, A, 2.173),
    ([0x126F, 0x400B], DataType.FLOAT32, C, 2.173),
    ([0x0B40, 0x6F12], DataType.FLOAT32, B, 2.173),
    ([0x6F12, 0x0B40], DataType.FLOAT32, D, 2.173),
    ([0xC0A0, 0x0000], DataType.FLOAT32, A, -5.0),
    ([0x3FF8, 0, 0, 0], DataType.FLOAT64, A, 1.5),
    ([0, 0, 0, 0x3FF8], DataType.FLOAT64, C, 1.5),
    ([0x0102, 0x0304], DataType.UINT32, A, 0x01020304),
    ([0x0304, 0x0102], DataType.UINT32, C, 0x01020304),
    ([0x0201, 0x0403], DataType.UINT32, B, 0x01020304),
    ([0x0403, 0x0201], DataType.UINT32, D, 0x01020304),
    ([0xFFFF, 0xFFFE], DataType.INT32, A, -2),
    ([0xFFFE, 0xFFFF], DataType.INT32, C, -2),
    ([0x0102, 0x0304, 0x0506, 0x0708], DataType.UINT64, A, 0x0102030405060708),
    ([0x0708, 0x0506, 0x0304, 0x0102], DataType.UINT64, C, 0x0102030405060708),
    ([0x0201, 0x0403, 0x0605, 0x0807], DataType.UINT64, B, 0x0102030405060708),
    ([0x0807, 0x0605, 0x0403, 0x0201], DataType.UINT64, D, 0x0102030405060708),
    ([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], DataType.INT64, A, -1),
    ([0xFFFF], DataType.INT16, A, -1),
    ([0xFFFF], DataType.UINT16, A, 65535),
    ([0x0100], DataType.INT16, B, 1),
    ([0x8000], DataType.INT16, A, -32768),
    ([0x087D], DataType.INT16, A, 2173),
    # float16 (IEEE 754 binary16): sign, 5 exponent bits (bias 15), 10 fraction bits
    ([0x3C00], DataType.FLOAT16, A, 1.0),
    ([0xC000], DataType.FLOAT16, A, -2.0),
    ([0x4170], DataType.FLOAT16, A, 2.7188),  # 2.71875, shown to the 5 digits binary16 holds
    ([0x7041], DataType.FLOAT16, B, 2.7188),
    ([0x7BFF], DataType.FLOAT16, A, 65504.0),
]


@pytest.mark.parametrize(("words", "dtype", "order", "value"), CASES)
def test_decode_number(words: list[int], dtype: DataType, order: ByteOrder, value: float) -> None:
    assert decode_number(words, dtype, order) == value


@pytest.mark.parametrize(("words", "dtype", "order", "value"), CASES)
def test_encoder_is_the_inverse(words: list[int], dtype: DataType, order: ByteOrder, value: float) -> None:
    assert encode_number(value, dtype, order) == words


@pytest.mark.parametrize(
    ("words", "check"),
    [
        ([0x7FC0, 0x0000], math.isnan),
        ([0x7F80, 0x0000], lambda v: v == math.inf),
        ([0xFF80, 0], lambda v: v < 0),
    ],
)
def test_non_finite_floats_come_through_for_the_decoder_to_flag(words: list[int], check: object) -> None:
    value = decode_number(words, DataType.FLOAT32)
    assert callable(check)
    assert check(value)
    assert not math.isfinite(value)


def test_strings_drop_padding_and_honour_byte_swap() -> None:
    assert decode_string([0x4142, 0x3132, 0x0000]) == "AB12"
    assert decode_string([0x4241, 0x3231, 0x2000], B) == "AB12"
    assert decode_string([0x4142, 0x0100]) == "AB\ufffd"
    assert encode_string("AB12", 3) == [0x4142, 0x3132, 0x0000]


@pytest.mark.parametrize(
    ("word", "dtype", "byte", "value"),
    [
        (0x12FE, DataType.UINT8, RegisterByte.HIGH, 0x12),
        (0x12FE, DataType.UINT8, RegisterByte.LOW, 0xFE),
        (0x12FE, DataType.INT8, RegisterByte.LOW, -2),
        (0x8001, DataType.INT8, RegisterByte.HIGH, -128),
        (0x7F80, DataType.INT8, RegisterByte.HIGH, 127),
    ],
)
def test_bytes_of_a_register(word: int, dtype: DataType, byte: RegisterByte, value: int) -> None:
    assert decode_byte(word, byte, signed=dtype is DataType.INT8) == value
    other = word & 0xFF if byte is RegisterByte.HIGH else word & 0xFF00
    assert encode_byte(value, dtype, byte) | other == word


def test_one_character_per_register() -> None:
    # A display's text as one ASCII character in the low byte of each register (the high byte left 0).
    assert decode_string([0x0041, 0x0042, 0x0031, 0x0000], byte=RegisterByte.LOW) == "AB1"
    assert decode_string([0x4100, 0x4200, 0x2000], byte=RegisterByte.HIGH) == "AB"
    assert decode_string([0xFF41, 0x0042], byte=RegisterByte.LOW) == "AB"  # the other byte is ignored
    assert encode_string("AB1", 4, byte=RegisterByte.LOW) == [0x0041, 0x0042, 0x0031, 0x0000]


def test_bits() -> None:
    assert [decode_bit(0b1010_0000_0000_0001, bit) for bit in (0, 1, 13, 15)] == [1, 0, 1, 1]


@pytest.mark.parametrize(
    ("words", "dtype"), [([1], DataType.FLOAT32), ([1, 2, 3], DataType.INT32), ([70000], DataType.UINT16)]
)
def test_wrong_word_counts_and_values_are_decode_errors(words: list[int], dtype: DataType) -> None:
    with pytest.raises(DecodeError):
        decode_number(words, dtype)


PART_OF_A_REGISTER = (DataType.BIT, DataType.STRING, DataType.INT8, DataType.UINT8)
numeric_types = st.sampled_from([t for t in DataType if t not in PART_OF_A_REGISTER])


@given(dtype=numeric_types, order=st.sampled_from(list(ByteOrder)), data=st.data())
def test_encode_decode_round_trip(dtype: DataType, order: ByteOrder, data: st.DataObject) -> None:
    bounds = {
        DataType.INT16: (-(2**15), 2**15 - 1),
        DataType.UINT16: (0, 2**16 - 1),
        DataType.INT32: (-(2**31), 2**31 - 1),
        DataType.UINT32: (0, 2**32 - 1),
        DataType.INT64: (-(2**63), 2**63 - 1),
        DataType.UINT64: (0, 2**64 - 1),
    }
    if dtype in bounds:
        value: float = data.draw(st.integers(*bounds[dtype]))
    else:
        width = {DataType.FLOAT16: 16, DataType.FLOAT32: 32}.get(dtype, 64)
        value = data.draw(st.floats(allow_nan=False, allow_infinity=False, width=width))  # type: ignore[arg-type]
    decoded = decode_number(encode_number(value, dtype, order), dtype, order)
    if dtype is DataType.FLOAT32:
        assert decoded == float(f"{value:.7g}")
    elif dtype is DataType.FLOAT16:
        assert decoded == float(f"{value:.5g}")
    else:
        assert decoded == value
