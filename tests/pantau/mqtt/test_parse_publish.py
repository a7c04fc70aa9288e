"""The adapter's PUBLISH fast path (pantau.mqtt.internals.parse_publish): what it takes from the read buffer,
and every packet it must leave to paho (None). Packets are built here by the MQTT 3.1.1 / 5 layout; the
real broker's packets are tests/pantau/mqtt/test_batched_reads.py."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantau.mqtt.internals import parse_publish


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def packet(
    topic: bytes,
    payload: bytes,
    *,
    qos: int = 1,
    mid: int = 7,
    properties: bytes | None = None,
    flags: int = 0,
) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", mid)
    if properties is not None:
        body += varint(len(properties)) + properties
    body += payload
    return bytes([0x30 | qos << 1 | flags]) + varint(len(body)) + body


CONTENT_TYPE = b"\x03" + struct.pack("!H", 16) + b"application/json"


@pytest.mark.parametrize(
    ("raw", "v5", "expected"),
    [
        (packet(b"pantau/v1/s/d/readings", b'{"a":1}'), False, ("pantau/v1/s/d/readings", b'{"a":1}', 7, 1)),
        (packet(b"t", b"", qos=0), False, ("t", b"", 0, 0)),
        (packet(b"t", b"x", properties=CONTENT_TYPE), True, ("t", b"x", 7, 1)),
        (packet(b"t", b"x", properties=b""), True, ("t", b"x", 7, 1)),
        (packet(b"t", b"x", flags=0b1001), False, ("t", b"x", 7, 1)),  # DUP and RETAIN set
        (packet("Sungai/Ampal/ü".encode(), b"x" * 20_000), False, ("Sungai/Ampal/ü", b"x" * 20_000, 7, 1)),
    ],
    ids=["qos1-3.1.1", "qos0-empty-payload", "v5-properties", "v5-no-properties", "dup-retain", "long"],
)
def test_a_whole_publish_is_taken(raw: bytes, v5: bool, expected: tuple[str, bytes, int, int]) -> None:
    # A following packet stays in the buffer: the length says where this one ends.
    assert parse_publish(memoryview(raw + b"\xd0\x00"), v5=v5) == (len(raw), *expected)


@pytest.mark.parametrize(
    ("raw", "v5"),
    [
        (packet(b"t", b"x", qos=2), False),  # QoS 2: paho's PUBREC/PUBREL exchange
        (packet(b"", b"x", properties=b"\x23\x00\x01"), True),  # a topic alias: paho resolves it
        (packet(b"\xff\xfe", b"x"), False),  # not UTF-8: paho says so in its own words
        (b"\xd0\x00", False),  # PINGRESP
        (b"\x90\x03\x00\x01\x01", False),  # SUBACK
        (b"\x32", False),  # only the header so far
        (packet(b"t", b"x" * 300)[:-1], False),  # one byte short
        (b"\x32\xff\xff\xff\xff\x7f", False),  # a remaining length longer than MQTT allows
        (packet(b"topic", b"x")[:4], False),  # cut inside the topic
        (packet(b"t", b"x", properties=b"\x01\x01")[:-3], True),  # cut inside the properties
    ],
    ids=[
        "qos2", "topic-alias", "not-utf8", "pingresp", "suback", "header-only", "short", "varint-5-bytes",
        "cut-in-topic", "cut-in-properties",
    ],
)  # fmt: skip
def test_anything_else_is_left_to_paho(raw: bytes, v5: bool) -> None:
    assert parse_publish(memoryview(raw), v5=v5) is None


@given(st.binary(max_size=64), st.booleans())
def test_any_bytes_are_taken_whole_or_left(raw: bytes, v5: bool) -> None:
    parsed = parse_publish(memoryview(raw), v5=v5)
    if parsed is not None:
        length, _topic, payload, _mid, qos = parsed
        assert 0 < length <= len(raw)
        assert qos in (0, 1)
        assert len(payload) < length
