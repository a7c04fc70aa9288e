"""Line protocol encoding, table-driven (round trips through a real influxd are in test_roundtrip.py)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.storage.influx.line_protocol import (
    InvalidPoint,
    _encode_checked,
    _series_key,
    encode_field_value,
    encode_point,
)
from backend.storage.model import FieldValue, Point

ENCODED = [
    ("plain", Point("reading", {"site": "s1"}, {"value": 2.5}, 1), "reading,site=s1 value=2.5 1"),
    (
        "tags sorted by key",
        Point("m", {"b": "2", "a": "1"}, {"f": 1.0}, 5),
        "m,a=1,b=2 f=1.0 5",
    ),
    ("empty tag value left out", Point("m", {"lane": "", "a": "x"}, {"f": 1}, 0), "m,a=x f=1i 0"),
    (
        "measurement escapes comma and space, not equals",
        Point("a,b c=d", {}, {"f": True}, 0),
        "a\\,b\\ c=d f=true 0",
    ),
    (
        "tag key and value escape comma, equals, space",
        Point("m", {"k ,=": "v ,="}, {"f": False}, 0),
        "m,k\\ \\,\\==v\\ \\,\\= f=false 0",
    ),
    ("field key escapes", Point("m", {}, {"a b=c,d": 1.0}, 0), "m a\\ b\\=c\\,d=1.0 0"),
    (
        "string field escapes quote and backslash only",
        Point("m", {}, {"s": 'say "hi" \\ ,= \n'}, 0),
        'm s="say \\"hi\\" \\\\ ,= \n" 0',
    ),
    ("backslash inside a tag kept as is", Point("m", {"t": "a\\b"}, {"f": 1.0}, 0), "m,t=a\\b f=1.0 0"),
    ("quotes in tags are plain", Point("m", {"t": "'\""}, {"f": 1.0}, 0), "m,t='\" f=1.0 0"),
    (
        "unicode",
        Point("curah_hujan", {"lokasi": "Balikpapan·β"}, {"f": 1.0}, 0),
        "curah_hujan,lokasi=Balikpapan·β f=1.0 0",
    ),
    ("negative time", Point("m", {}, {"f": 1.0}, -5), "m f=1.0 -5"),
]


@pytest.mark.parametrize(("point", "line"), [case[1:] for case in ENCODED], ids=[case[0] for case in ENCODED])
def test_encodes(point: Point, line: str) -> None:
    assert encode_point(point) == line


FIELD_VALUES: list[tuple[FieldValue, str]] = [
    (True, "true"),
    (False, "false"),
    (0, "0i"),
    (-(2**63), f"{-(2**63)}i"),
    (2**63 - 1, f"{2**63 - 1}i"),
    (0.1, "0.1"),
    (1e100, "1e+100"),
    (-1.5e-300, "-1.5e-300"),
    (5.0, "5.0"),
    (2.0**53 + 2, "9007199254740994.0"),
    ("", '""'),
]


@pytest.mark.parametrize(("value", "text"), FIELD_VALUES)
def test_field_values(value: FieldValue, text: str) -> None:
    assert encode_field_value(value) == text


def test_floats_round_trip_exactly() -> None:
    for value in (0.1, 1 / 3, math.pi * 1e-200, 123456789.123456789, -0.0):
        assert float(encode_field_value(value)) == value


REJECTED = [
    ("nan", Point("m", {}, {"f": math.nan}, 0)),
    ("inf", Point("m", {}, {"f": math.inf}, 0)),
    ("integer beyond 64 bits", Point("m", {}, {"f": 2**63}, 0)),
    ("no fields", Point("m", {"t": "x"}, {}, 0)),
    ("empty measurement", Point("", {}, {"f": 1.0}, 0)),
    ("empty tag key", Point("m", {"": "x"}, {"f": 1.0}, 0)),
    ("empty field key", Point("m", {}, {"": 1.0}, 0)),
    ("newline in measurement", Point("a\nb", {}, {"f": 1.0}, 0)),
    ("newline in tag value", Point("m", {"t": "a\nb"}, {"f": 1.0}, 0)),
    ("carriage return in tag key", Point("m", {"a\rb": "x"}, {"f": 1.0}, 0)),
    ("newline in field key", Point("m", {}, {"a\nb": 1.0}, 0)),
    ("trailing backslash in tag value", Point("m", {"t": "a\\"}, {"f": 1.0}, 0)),
    ("backslash before comma", Point("m", {"t": "a\\,b"}, {"f": 1.0}, 0)),
    ("backslash before space in measurement", Point("a\\ b", {}, {"f": 1.0}, 0)),
    ("backslash before equals in field key", Point("m", {}, {"a\\=b": 1.0}, 0)),
    ("tag key time", Point("m", {"time": "x"}, {"f": 1.0}, 0)),
    ("field key time", Point("m", {}, {"time": 1.0}, 0)),
    ("lone surrogate", Point("m", {"t": "\ud800"}, {"f": 1.0}, 0)),
    ("time out of range", Point("m", {}, {"f": 1.0}, 2**63)),
    ("not a field type", Point("m", {}, {"f": None}, 0)),  # type: ignore[dict-item]
]


@pytest.mark.parametrize("point", [case[1] for case in REJECTED], ids=[case[0] for case in REJECTED])
def test_rejects(point: Point) -> None:
    with pytest.raises(InvalidPoint):
        encode_point(point)


def test_nul_refused_in_names_kept_in_strings() -> None:
    with pytest.raises(InvalidPoint, match="NUL"):
        encode_point(Point("m", {"t": "a\x00"}, {"f": 1.0}, 0))
    assert encode_point(Point("m", {}, {"s": "a\x00"}, 0)) == 'm s="a\x00" 0'


def test_a_name_starting_with_a_tab_is_refused() -> None:
    """influxd 1.6 skips a tab after the separator as whitespace, so a field keyed "\tb" came back as
    no value at all (found by tests/backend/storage/influx/test_roundtrip.py); inside a name it is kept."""
    with pytest.raises(InvalidPoint, match="starts with a tab"):
        encode_point(Point("m", {}, {"\tb": "x"}, 0))
    assert encode_point(Point("m", {}, {"a\tb": "x"}, 0)) == 'm a\tb="x" 0'


def _checked(point: Point) -> str:
    """The plain algorithm encode_point's cached layouts stand in for: every name checked, in key order."""
    return _encode_checked(_series_key(point.measurement, tuple(sorted(point.tags.items()))), point)


def _outcome(encode: Callable[[Point], str], point: Point) -> str:
    try:
        return encode(point)
    except InvalidPoint as exc:
        return f"InvalidPoint: {exc}"


_NAMES = st.sampled_from(["value", "quality", "seq", "z", "time", "a b", "k=v", "c,d", "x\\", "nl\n", ""])
_FIELD_VALUES = st.one_of(
    st.floats(),  # NaN and infinities included
    st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["good", "m", 'say "hi"', "back\\slash", "\ud800"]),
)


@settings(max_examples=500, deadline=None)
@given(
    measurement=st.sampled_from(["reading", "m", "a b", "", "x\\"]),
    tags=st.dictionaries(_NAMES, st.sampled_from(["s1", "", "a,b", "a b", "t\x00", "e\\"]), max_size=3),
    fields=st.dictionaries(_NAMES, _FIELD_VALUES, max_size=4),
    time_ns=st.integers(min_value=-(2**64), max_value=2**64),
)
def test_fast_path_encodes_and_refuses_exactly_like_the_checked_path(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], time_ns: int
) -> None:
    point = Point(measurement, tags, fields, time_ns)
    assert _outcome(encode_point, point) == _outcome(_checked, point)
    assert _outcome(encode_point, point) == _outcome(encode_point, point)  # and again, from the caches
