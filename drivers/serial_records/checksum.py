"""Record checksums: XOR-8 or sum-mod-256 of the covered bytes, printed as two hex characters.

Pure functions over bytes. `split_checksum` checks a frame and returns the payload without the checksum;
`append_checksum` is its inverse for the encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from operator import xor
from typing import Final

from drivers.serial_records.errors import ChecksumMismatch
from pantau.profiles.records.profile import ChecksumSpec

_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")


def xor8(data: bytes) -> int:
    """XOR of all bytes (common on WIM controllers and NMEA-style records)."""
    return reduce(xor, data, 0)


def sum8(data: bytes) -> int:
    """Sum of all bytes modulo 256."""
    return sum(data) & 0xFF


ALGORITHMS: Final[dict[str, Callable[[bytes], int]]] = {"xor8": xor8, "sum8": sum8}


def _separator(spec: ChecksumSpec, field_separator: str | None) -> bytes:
    text = (field_separator or "") if spec.position == "field" else spec.separator
    return text.encode("latin-1")


def split_checksum(frame: bytes, spec: ChecksumSpec, field_separator: str | None = None) -> bytes:
    """The payload of `frame` once its checksum is verified; ChecksumMismatch says what does not fit.

    `field_separator` is the delimited format's separator, used when the checksum is the last field.
    """
    separator = _separator(spec, field_separator)
    tail = len(separator) + 2
    if len(frame) < tail:
        raise ChecksumMismatch("frame too short to hold a checksum", field="checksum", raw=frame)
    printed, body = frame[-2:], frame[:-2]
    if separator and not body.endswith(separator):
        raise ChecksumMismatch(
            f"expected {separator.decode('latin-1')!r} before the checksum", field="checksum", raw=frame
        )
    if not set(printed) <= _HEX_DIGITS:
        raise ChecksumMismatch(
            "is not two hex digits", field="checksum", value=printed.decode("latin-1"), raw=frame
        )
    payload = body[: len(body) - len(separator)]
    covered = body if spec.covers_separator else payload
    expected = ALGORITHMS[spec.algorithm](covered)
    if int(printed, 16) != expected:
        raise ChecksumMismatch(
            f"does not match the payload ({spec.algorithm} is {expected:02X})",
            field="checksum",
            value=printed.decode("latin-1"),
            raw=frame,
        )
    return payload


def append_checksum(payload: bytes, spec: ChecksumSpec, field_separator: str | None = None) -> bytes:
    """`payload` followed by its separator and checksum, as the device would print it."""
    separator = _separator(spec, field_separator)
    covered = payload + separator if spec.covers_separator else payload
    return payload + separator + f"{ALGORITHMS[spec.algorithm](covered):02X}".encode("ascii")
