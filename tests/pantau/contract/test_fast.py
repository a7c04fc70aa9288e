"""The readings fast path against the decoder: it may decline anything, but what it accepts, `decode`
accepts too, as the same message. Hand-picked edge cases first (where msgspec, Python's `re` and
`datetime` read things differently from pydantic), then mutations of real readings messages."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantau.contract import ContractError, Reading, Readings, Topics, decode, encode
from pantau.contract.fast import decode_readings
from pantau.contract.fields import RFC3339_PATTERN
from tests.fuzz.profiles import FUZZ
from tests.harness.backend import T0, readings

TOPICS = Topics()
TOPIC = "pantau/v1/ampal-mufakat/wl-radar-1/readings"


def document(**changes: Any) -> dict[str, Any]:
    """A valid readings message as JSON (the harness's three channels: good, suspect, missing) with
    `changes` applied; a change of None drops the field."""
    doc: dict[str, Any] = json.loads(encode(readings(7)))
    for key, value in changes.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def channel(**fields: Any) -> dict[str, Any]:
    """A document whose one channel `level` is `fields`."""
    return document(channels={"level": fields})


def verdicts(payload: bytes, topic: str = TOPIC) -> tuple[Any, Readings | ContractError]:
    fast = decode_readings(payload, topic, TOPICS)
    try:
        full = decode(payload, topic=topic, topics=TOPICS)
    except ContractError as exc:
        return fast, exc
    assert isinstance(full, Readings)
    return fast, full


def assert_same_verdict(payload: bytes, topic: str = TOPIC) -> bool:
    """Fails when the fast path accepts what `decode` refuses, or accepts it as another message;
    returns whether the fast path took it."""
    fast, full = verdicts(payload, topic)
    if fast is None:
        return False
    assert not isinstance(full, ContractError), f"fast path accepted what decode refuses: {full}"
    wire, at = fast
    assert at == full.ts
    assert at.utcoffset() == full.ts.utcoffset() == UTC.utcoffset(None)
    assert (wire.site, wire.gateway, wire.seq, wire.device) == (
        full.site,
        full.gateway,
        full.seq,
        full.device,
    )
    assert {name: _reading(r) for name, r in wire.channels.items()} == {
        name: _reading(r) for name, r in full.channels.items()
    }
    return True


def _reading(reading: Any) -> tuple[object, ...]:
    value = reading.value
    # type too: 1 == 1.0 in Python, but an integer reading is stored exact and a float is not
    return (
        type(value),
        value,
        reading.text,
        reading.unit,
        str(reading.quality),
        reading.reason,
        reading.detail,
    )


def payload_of(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def test_real_readings_take_the_fast_path_as_the_same_message() -> None:
    message = readings(7)  # a good, a suspect and a missing channel
    counter = Readings(
        site="ampal-mufakat",
        gateway="gw-ampal",
        seq=1,
        ts=T0,
        device="wl-radar-1",
        channels={
            "rain_total": Reading(value=2**62, unit="µm"),
            "serial": Reading(text="SN-0042 ✓", quality="good"),
            "level": Reading(value=1.5, quality="clock_skew", reason="clock_stepped", detail="by 2 h"),
            "temp": Reading(unit="°C", quality="bad", reason="not_a_number"),
        },
    )
    for accepted in (message, counter):
        assert assert_same_verdict(encode(accepted))


# What Python's re, datetime and msgspec read differently from pydantic, and what the models refuse.
EDGE_CASES: dict[str, object] = {
    "id with a trailing newline": document(site="ampal-mufakat\n"),
    "device with a trailing newline": document(device="wl-radar-1\n"),
    "channel name with a trailing newline": document(channels={"level\n": {"value": 1.0}}),
    "upper-case id": document(gateway="GW-Ampal"),
    "lower-case t and z": document(ts="2026-11-28t06:00:00z"),
    "seven digits of fraction": document(ts="2026-11-28T06:00:00.1234567Z"),
    "nine digits of fraction": document(ts="2026-11-28T06:00:00.123456789Z"),
    "no zone": document(ts="2026-11-28T06:00:00"),
    "space for the T": document(ts="2026-11-28 06:00:00Z"),
    "hour 24": document(ts="2026-11-28T24:00:00Z"),
    "leap second": document(ts="2016-12-31T23:59:60Z"),
    "offset past a day": document(ts="2026-11-28T06:00:00+24:00"),
    "offset": document(ts="2026-11-28T06:00:00+08:00"),
    "offset across the year 2100": document(ts="2100-01-01T07:00:00+08:00"),
    "before 2000": document(ts="1999-12-31T23:59:59Z"),
    "offset across the year 2000": document(ts="2000-01-01T07:00:00+08:00"),
    "a number for ts": document(ts=1764309600),
    "seq as float": document(seq=1.0),
    "seq as string": document(seq="1"),
    "seq true": document(seq=True),
    "negative seq": document(seq=-1),
    "seq past int64": document(seq=2**63),
    "schema_version 2": document(schema_version=2),
    "schema_version true": document(schema_version=True),
    "schema_version 1.0": document(schema_version=1.0),
    "no schema_version": document(schema_version=None),
    "no kind": document(kind=None),
    "unknown field": document(firmware="1.2"),
    "no channels": document(channels={}),
    "257 channels": document(channels={f"c{i}": {"value": 1.0} for i in range(257)}),
    "256 channels": document(channels={f"c{i}": {"value": 1.0} for i in range(256)}),
    "value true": channel(value=True),
    "value as string": channel(value="1.5"),
    "value int64 max": channel(value=2**63 - 1),
    "value past int64": channel(value=2**63),
    "value below int64": channel(value=-(2**63) - 1),
    "value past uint64": channel(value=2**70),
    "value minus zero": channel(value=-0.0),
    "value huge float": channel(value=1.7976931348623157e308),
    "value 2.0": channel(value=2.0),
    "value null": channel(value=None, quality="missing", reason="timeout"),
    "unit with a no-break space": channel(value=1.0, unit="m\u00a0h"),
    "unit with an information separator": channel(value=1.0, unit="m\x1c"),
    "unit with a newline at the end": channel(value=1.0, unit="m\n"),
    "unit of 17 characters": channel(value=1.0, unit="m" * 17),
    "unit empty": channel(value=1.0, unit=""),
    "unit non-ascii": channel(value=1.0, unit="m³/s"),
    "text empty": channel(text=""),
    "text of 256 characters": channel(text="x" * 256),
    "text of 257 characters": channel(text="x" * 257),
    "detail of 257 characters": channel(quality="bad", reason="crc", detail="x" * 257),
    "reason with a newline": channel(value=1.0, quality="suspect", reason="spike\n"),
    "reason upper-case": channel(value=1.0, quality="suspect", reason="Spike"),
    "good with a reason": channel(value=1.0, reason="spike"),
    "good without value": channel(unit="m"),
    "suspect without reason": channel(value=1.0, quality="suspect"),
    "suspect without value": channel(quality="suspect", reason="spike"),
    "bad without reason": channel(value=1.0, quality="bad"),
    "clock_skew without reason": channel(value=1.0, quality="clock_skew"),
    "missing with a value": channel(value=1.0, quality="missing", reason="timeout"),
    "missing without reason": channel(quality="missing"),
    "bad without value": channel(quality="bad", reason="crc"),
    "unknown quality": channel(value=1.0, quality="great"),
    "unknown reading field": channel(value=1.0, scale=2),
    "reading not an object": document(channels={"level": 1.0}),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_an_edge_case_gets_the_decoder_s_verdict(case: str) -> None:
    assert_same_verdict(payload_of(EDGE_CASES[case]))


def raw_readings(channels: str) -> bytes:
    """A readings message written by hand around `channels` (JSON), for what json.dumps cannot write."""
    envelope = (
        '{"schema_version":1,"kind":"readings","site":"ampal-mufakat","ts":"2026-11-28T06:00:00Z",'
        '"gateway":"gw-ampal","seq":1,"device":"wl-radar-1","channels":%s}'
    )
    return (envelope % channels).encode()


@pytest.mark.parametrize(
    "raw",
    [
        raw_readings('{"a":{"value":1},"a":{"value":2.5}}'),  # a duplicate key: the last counts, in both
        raw_readings('{"a":{"value":1}}').replace(b'"site":"ampal', b'"site":"x","site":"ampal'),
        raw_readings('{"a":{"text":"\\ud800"}}'),  # a JSON escape spelling a lone surrogate
        raw_readings('{"a":{"value":1,"unit":"\\udfff"}}'),
        raw_readings('{"a":{"value":1e400}}'),
        raw_readings('{"a":{"value":NaN}}'),
        raw_readings('{"a":{"value":Infinity}}'),
        b'\xef\xbb\xbf{"schema_version":1}',
        b'{"schema_version":1,"kind":"readings"} trailing',
        b"\xff\xfe",
    ],
)
def test_raw_payloads_get_the_decoder_s_verdict(raw: bytes) -> None:
    assert_same_verdict(raw)


@pytest.mark.parametrize(
    "topic",
    [
        "pantau/v1/ampal-mufakat/wl-radar-2/readings",  # another device
        "pantau/v1/ampal-hulu/wl-radar-1/readings",  # another site
        "pantau/v1/ampal-mufakat/wl-radar-1/vehicles",
        "pantau/v1/ampal-mufakat/status",
        "pantau/v2/ampal-mufakat/wl-radar-1/readings",
        "pantau/v1/ampal-mufakat/WL/readings",
    ],
)
def test_a_message_on_another_topic_is_left_to_the_decoder(topic: str) -> None:
    assert decode_readings(encode(readings(7)), topic, TOPICS) is None
    assert isinstance(verdicts(encode(readings(7)), topic)[1], ContractError)


def test_an_oversize_payload_is_left_to_the_decoder() -> None:
    big = payload_of(channel(value=1.0, detail="x" * 100)).replace(b"}}}", b"}}}" + b" " * 300_000)
    assert decode_readings(big, TOPIC, TOPICS) is None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["good", "missing", "suspect", "bad", "clock_skew", "timeout", "m", "level", ""]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = ["value", "text", "unit", "quality", "reason", "detail"]


@st.composite
def mutated_readings(draw: st.DrawFn) -> bytes:
    doc = document()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        channels = doc.get("channels")
        readings_ = (
            [r for r in channels.values() if isinstance(r, dict)] if isinstance(channels, dict) else []
        )
        target = draw(st.sampled_from([doc, *readings_]))
        key = draw(st.sampled_from(sorted(target) + FIELDS))
        action = draw(st.sampled_from(["drop", "retype", "rename"]))
        if action == "drop":
            target.pop(key, None)
        elif action == "retype":
            target[key] = draw(json_values)
        elif key in target:
            target[draw(st.text(max_size=8) | st.sampled_from(FIELDS))] = target.pop(key)
    return payload_of(doc)


@FUZZ
@given(payload=mutated_readings())
def test_mutated_readings_get_the_decoder_s_verdict(payload: bytes) -> None:
    assert_same_verdict(payload)


@FUZZ
@given(
    value=st.integers(min_value=-(2**64), max_value=2**64) | st.floats(allow_nan=False),
    text=st.none() | st.text(max_size=300),
    unit=st.none() | st.text(max_size=20),
    quality=st.sampled_from(["good", "suspect", "bad", "missing", "clock_skew"]),
    reason=st.none() | st.sampled_from(["timeout", "spike", "crc_2"]) | st.text(max_size=10),
    ts=st.datetimes().map(lambda t: t.isoformat()) | st.from_regex(RFC3339_PATTERN, fullmatch=True),
)
def test_arbitrary_channel_values_get_the_decoder_s_verdict(
    value: float, text: str | None, unit: str | None, quality: str, reason: str | None, ts: str
) -> None:
    fields = {"value": value, "text": text, "unit": unit, "quality": quality, "reason": reason}
    doc = document(ts=ts, channels={"level": {k: v for k, v in fields.items() if v is not None}})
    assert_same_verdict(payload_of(doc))
