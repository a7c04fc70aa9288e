"""Checksums: XOR-8 and sum-mod-256 as two hex digits, after a separator or as the last field."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.serial_records.checksum import append_checksum, split_checksum, sum8, xor8
from drivers.serial_records.errors import ChecksumMismatch
from pantau.profiles.records.profile import ChecksumSpec


@pytest.mark.parametrize(
    ("data", "xor", "total"),
    [
        (b"", 0x00, 0x00),
        (b"A", 0x41, 0x41),
        (b"AB", 0x41 ^ 0x42, 0x83),
        (b"\xff\x01", 0xFE, 0x00),  # the sum wraps at 256
        # The classic NMEA example: $GPGGA,123519,...,M,,*47 (XOR of the bytes between $ and *).
        (b"GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,", 0x47, None),
    ],
)
def test_algorithms(data: bytes, xor: int, total: int | None) -> None:
    assert xor8(data) == xor
    if total is not None:
        assert sum8(data) == total


SUFFIX = ChecksumSpec(algorithm="xor8", separator="*")
FIELD = ChecksumSpec(algorithm="sum8", position="field")
FIELD_COVERED = ChecksumSpec(algorithm="xor8", position="field", covers_separator=True)


@pytest.mark.parametrize(
    ("spec", "separator", "frame", "payload"),
    [
        (SUFFIX, None, b"abc*" + f"{0x61 ^ 0x62 ^ 0x63:02X}".encode(), b"abc"),
        (SUFFIX, None, b"abc*" + f"{0x61 ^ 0x62 ^ 0x63:02x}".encode(), b"abc"),  # lower-case hex accepted
        (FIELD, ",", b"1,2," + f"{sum(b'1,2'):02X}".encode(), b"1,2"),
        (FIELD_COVERED, ",", b"1,2," + f"{0x31 ^ 0x2C ^ 0x32 ^ 0x2C:02X}".encode(), b"1,2"),
        (ChecksumSpec(algorithm="sum8"), None, b"xy" + f"{(0x78 + 0x79) & 0xFF:02X}".encode(), b"xy"),
    ],
)
def test_valid_checksums_give_the_payload(
    spec: ChecksumSpec, separator: str | None, frame: bytes, payload: bytes
) -> None:
    assert split_checksum(frame, spec, separator) == payload


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"abc*00", "does not match the payload (xor8 is 60)"),
        (b"abc*G1", "is not two hex digits"),
        (b"abc+60", "expected '*' before the checksum"),
        (b"6", "frame too short"),
    ],
)
def test_bad_checksums_say_what_is_wrong(frame: bytes, message: str) -> None:
    with pytest.raises(ChecksumMismatch, match=re.escape(message)) as caught:
        split_checksum(frame, SUFFIX)
    assert caught.value.field == "checksum"
    assert caught.value.raw == frame


@given(st.binary(max_size=100), st.sampled_from([SUFFIX, FIELD, FIELD_COVERED]))
def test_append_then_split_round_trips(payload: bytes, spec: ChecksumSpec) -> None:
    assert split_checksum(append_checksum(payload, spec, ","), spec, ",") == payload


@given(st.binary(min_size=1, max_size=60), st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_single_flipped_byte_is_caught(payload: bytes, where: int, flip: int) -> None:
    frame = bytearray(append_checksum(payload, SUFFIX))
    index = where % len(payload)
    frame[index] ^= flip
    with pytest.raises(ChecksumMismatch):
        split_checksum(bytes(frame), SUFFIX)
