"""Encoding points as InfluxDB line protocol: pure functions, no I/O.

Escaping follows the InfluxDB 1.x parser (2.x shares it), checked against a real influxd 1.6:

- measurement: `,` and space; tag keys, tag values and field keys: `,`, `=` and space;
  string field values: `"` and `\\`, inside double quotes.
- The 1.x parser treats a backslash as escaping whatever follows it, but unescapes only `\\,`, `\\=` and
  `\\ `. So a name or tag value with a backslash right before `,`, `=`, space, or at its very end has no
  encoding that reads back unchanged: such points are rejected, never silently altered.
- NUL is refused in names and tag values: the InfluxQL scanner reads it as end of input, so such a series
  could be written but never queried.
- A raw newline ends the line, and line protocol has no escape for it outside string fields, so a newline
  or carriage return in a measurement, tag or field key is rejected. String field values may hold newlines:
  the parser keeps quoted text together.
- Tags are written sorted by key (what InfluxDB stores anyway; it saves the server the sort), empty tag
  values are left out (InfluxDB refuses them; a missing tag reads back as ""), times are integer ns.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Final

from backend.storage.model import FieldValue, Point
from pantau.contract import Quality
from pantau.contract.fast import WireReadings

#: The range InfluxDB accepts for timestamps (models.MinNanoTime / MaxNanoTime).
MIN_TIME_NS: Final = -9_223_372_036_854_775_806
MAX_TIME_NS: Final = 9_223_372_036_854_775_806
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_FINITE_MIN: Final = -sys.float_info.max
_FINITE_MAX: Final = sys.float_info.max

_MEASUREMENT_ESCAPES: Final = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES: Final = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STRING_ESCAPES: Final = str.maketrans({"\\": "\\\\", '"': '\\"'})
_NEWLINES: Final = ("\n", "\r")
_AFTER_BACKSLASH: Final = (",", "=", " ")


class InvalidPoint(ValueError):
    """A point that line protocol cannot carry unchanged; the message says which part and why."""


def encode_point(point: Point) -> str:
    """One line (without the trailing newline) for `point`; raises InvalidPoint if it cannot be stored."""
    series = _series(point.measurement, tuple(point.tags.items()))
    fields = point.fields
    layout = _field_layout(tuple(fields)) if fields else None
    if layout is None:  # no fields, or a key line protocol cannot carry: the checked path says which
        return _encode_checked(series, point)
    parts = []
    for key, name in layout:
        value = fields[key]
        # The common types by exact type, the rest through encode_field_value (bool is an int and
        # enum members are str, so those take the general path).
        if type(value) is float and _FINITE_MIN <= value <= _FINITE_MAX:  # NaN fails both comparisons
            parts.append(name + repr(value))
        elif type(value) is str:
            parts.append(name + _string_field(value))
        elif type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            parts.append(f"{name}{value}i")
        else:
            parts.append(name + encode_field_value(value))
    return f"{series} {','.join(parts)} {_time(point.time_ns)}"


def _encode_checked(series: str, point: Point) -> str:
    if not point.fields:
        raise InvalidPoint("a point needs at least one field")
    fields = ",".join(
        f"{_field_key(key)}={encode_field_value(value)}" for key, value in sorted(point.fields.items())
    )
    return f"{series} {fields} {_time(point.time_ns)}"


def _time(time_ns: int) -> int:
    if not isinstance(time_ns, int) or not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
        raise InvalidPoint(f"time {time_ns!r} ns is outside the range InfluxDB stores")
    return time_ns


# Encoding a reading point took ~8 µs, mostly in sorting and checking the same names again and again. The
# series (measurement + tags as given) and the field layout (keys as given -> sorted, escaped `key=`) are
# looked up instead; both are bounded by the inventory and the schema. A layout with a bad key is None,
# so such a point goes the checked path and fails with exactly the error it always did.
@functools.lru_cache(maxsize=65_536)
def _series(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    return _series_key(measurement, tuple(sorted(tags)))


@functools.lru_cache(maxsize=4096)
def _field_layout(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    try:
        return tuple((key, _field_key(key) + "=") for key in sorted(keys))
    except InvalidPoint:
        return None


# Measurements, tag sets and field keys repeat on every point of a series, and checking and escaping them
# was most of the encoding time (170 µs per point before caching, bench/ingest_throughput.py). Their number
# is bounded by the inventory, so a bounded cache holds them all; only successful results are cached.
@functools.lru_cache(maxsize=65_536)
def _series_key(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    escaped = _name(measurement, "measurement").translate(_MEASUREMENT_ESCAPES)
    return escaped + "".join(
        f",{_key(key, 'tag key')}={_escaped(value, 'tag value')}" for key, value in tags if value != ""
    )


@functools.lru_cache(maxsize=4096)
def _field_key(key: str) -> str:
    return _key(key, "field key")


# String values repeat too (quality, unit, gateway id); a bounded cache keeps their checked, quoted form.
@functools.lru_cache(maxsize=16_384)
def _string_field(value: str) -> str:
    return encode_field_value(value)


def encode_field_value(value: FieldValue) -> str:
    """A field value: `true`/`false`, `12i`, a float that reads back exactly, or a quoted string."""
    # bool before int: True is an int in Python.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidPoint(f"integer {value} does not fit in 64 bits")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidPoint(f"non-finite number {value!r} cannot be stored")
        # repr is the shortest text that parses back to the same double; InfluxDB reads exponents.
        return repr(value)
    if isinstance(value, str):
        _encodable(value, "string field")
        return f'"{value.translate(_STRING_ESCAPES)}"'
    raise InvalidPoint(f"field value {value!r} is not a float, int, str or bool")


def _name(text: str, what: str) -> str:
    if not isinstance(text, str) or text == "":
        raise InvalidPoint(f"{what} {text!r} is empty or not text")
    if any(newline in text for newline in _NEWLINES):
        raise InvalidPoint(f"{what} {text!r} contains a line break, which line protocol cannot carry")
    if "\x00" in text:
        raise InvalidPoint(f"{what} {text!r} contains NUL, which InfluxQL cannot quote")
    if text.startswith("\t"):  # influxd 1.x skips it as whitespace: the field comes back as another key
        raise InvalidPoint(f"{what} {text!r} starts with a tab, which InfluxDB 1.x line protocol drops")
    if text.endswith("\\") or any(f"\\{char}" in text for char in _AFTER_BACKSLASH):
        raise InvalidPoint(
            f"{what} {text!r} has a backslash before ',', '=', ' ' or at its end, "
            "which InfluxDB 1.x line protocol cannot read back unchanged"
        )
    _encodable(text, what)
    return text


def _key(key: str, what: str) -> str:
    # InfluxDB refuses a tag key `time` and silently drops a field `time`: refuse both here.
    if key == "time":
        raise InvalidPoint(f"'time' cannot be a {what}")
    return _escaped(key, what)


def _escaped(text: str, what: str) -> str:
    return _name(text, what).translate(_KEY_ESCAPES)


def _encodable(text: str, what: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise InvalidPoint(f"{what} {text!r} is not valid Unicode (lone surrogate)") from exc


#: The `reading` measurement (backend/storage/schema.py READING; not imported: schema imports this module's
#: users, and the name is part of the stored schema, which does not change).
_READING: Final = "reading"
_QARTOD_FLAGS: Final = {quality.value: quality.qartod_flag for quality in Quality}
#: Series of readings remembered by `reading_lines` (bounded by the inventory, like `_series`).
_SERIES_REMEMBERED: Final = 65_536
_reading_series: dict[tuple[str, str, str], str] = {}


def reading_lines(message: WireReadings, time_ns: int) -> list[str]:
    """The `reading` points of a readings message taken by the contract's fast path, as line protocol,
    written straight from the wire structs: exactly the lines `encode_point` writes for the points of
    `schema.wire_readings_points` (tests/backend/storage/test_reading_lines.py), in a quarter of the time,
    since the fast path has already checked every value (ids, finite numbers, int64, encodable text)."""
    site, device = message.site, message.device
    gateway = "gateway=" + _string_field(message.gateway)
    seq = f"seq={message.seq}i"
    lines = []
    for channel, reading in message.channels.items():
        key = (site, device, channel)
        series = _reading_series.get(key)
        if series is None:
            series = _series(_READING, (("site", site), ("device", device), ("channel", channel)))
            if len(_reading_series) < _SERIES_REMEMBERED:
                _reading_series[key] = series
        parts = []  # fields in key order, as encode_point sorts them
        if reading.detail is not None:
            parts.append("detail=" + _string_field(reading.detail))
        parts.append(gateway)
        parts.append(f"qc_flag={_QARTOD_FLAGS[reading.quality]}i")
        parts.append("quality=" + _string_field(reading.quality))
        if reading.reason is not None:
            parts.append("reason=" + _string_field(reading.reason))
        parts.append(seq)
        if reading.text is not None:
            parts.append("text=" + _string_field(reading.text))
        if reading.unit is not None:
            parts.append("unit=" + _string_field(reading.unit))
        value = reading.value
        if value is not None:
            parts.append("value=" + repr(float(value)))
            if type(value) is int:
                parts.append(f"value_int={value}i")
        lines.append(f"{series} {','.join(parts)} {time_ns}")
    return lines
