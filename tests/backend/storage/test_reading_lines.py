"""Line protocol written straight from a fast-path readings message is byte for byte what `encode_point`
writes for the same points: every quality, integer and float values, and text, units and details with
the characters line protocol escapes (quotes, backslashes, commas, spaces, line breaks) or that are not
ASCII."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from backend.storage.influx.line_protocol import encode_point, reading_lines
from backend.storage.schema import readings_points, time_ns, wire_readings_points
from pantau.contract import Reading, Readings, Topics, decode, encode
from pantau.contract.fast import decode_readings
from tests.fuzz.profiles import FUZZ
from tests.harness.backend import T0, readings

TOPICS = Topics()

slugs = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)
texts = st.text(min_size=1, max_size=40) | st.sampled_from(['a "quoted" \\ value', "two\nlines", "x,y=z w"])
units = st.from_regex(r"[^\s\x00-\x1f]{1,16}", fullmatch=True) | st.sampled_from(
    ['"', "\\", "m\\", "°C", "m³/s"]
)
numbers = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1e-300, 2.5, 1e22])
)


@st.composite
def channel_readings(draw: st.DrawFn) -> Reading:
    quality = draw(st.sampled_from(["good", "suspect", "bad", "missing", "clock_skew"]))
    value = None if quality == "missing" else draw(st.none() | numbers)
    text = None if quality == "missing" else draw(st.none() | texts)
    if quality in ("good", "suspect") and value is None and text is None:
        value = draw(numbers)
    reason = (
        None if quality == "good" else draw(st.sampled_from(["timeout", "spike", "clock_stepped", "crc"]))
    )
    return Reading(
        value=value,
        text=text,
        unit=draw(st.none() | units),
        quality=quality,
        reason=reason,
        detail=draw(st.none() | texts),
    )


@st.composite
def readings_messages(draw: st.DrawFn) -> Readings:
    return Readings(
        site=draw(slugs.filter(lambda site: site != "alerts")),
        gateway=draw(slugs),
        seq=draw(st.integers(min_value=0, max_value=2**63 - 1)),
        ts=T0 + timedelta(microseconds=draw(st.integers(min_value=-2 * 10**14, max_value=2 * 10**14))),
        device=draw(slugs),
        channels=draw(st.dictionaries(slugs, channel_readings(), min_size=1, max_size=6)),
    )


def assert_lines_match(message: Readings) -> bool:
    """Whether the fast path took `message` (one it leaves to the models never gets direct lines)."""
    topic = TOPICS.readings(message.site, message.device)
    fast = decode_readings(encode(message), topic, TOPICS)
    if fast is None:
        return False
    wire, at = fast
    lines = reading_lines(wire, time_ns(at))
    points = wire_readings_points(wire, at, lines)
    assert [point.line for point in points] == [encode_point(point) for point in points]
    # and the points are those of the models' path, lines aside
    assert points == readings_points(decode(encode(message)))  # type: ignore[arg-type]
    return True


@FUZZ
@given(message=readings_messages())
def test_lines_from_the_wire_are_those_encode_point_writes(message: Readings) -> None:
    assume(assert_lines_match(message))


def test_the_harness_readings_and_an_odd_reading_get_the_same_lines() -> None:
    assert assert_lines_match(readings(7))
    odd = Readings(
        site="ampal-mufakat",
        gateway="gw-ampal",
        seq=2**63 - 1,
        ts=datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        device="wl-radar-1",
        channels={
            "serial": Reading(text='SN "42"\\\nrev, b=2', unit='"'),
            "count": Reading(value=-(2**63), unit="m\\"),
            "level": Reading(value=-0.0, quality="suspect", reason="spike", detail="a, b = c \\"),
        },
    )
    assert assert_lines_match(odd)
