"""Building InfluxQL from a `SeriesQuery`: pure functions, no I/O.

No caller text reaches a statement unquoted (no query injection): every identifier goes through
`quote_ident` (double quotes; `\\`, `"` and newline escaped) and every string through `quote_string`
(single quotes; `\\`, `'` and newline escaped), both per the InfluxQL scanner, which understands exactly
the escapes `\\\\ \\" \\' \\n`; NUL, which it reads as end of input, is refused. Numbers are
formatted here from Python numbers, never copied from text.

Times are integer nanoseconds since the epoch (`time >= 1764309600000000000`), which influxd 1.x reads
as ns exactly, negative ones included; they are clamped to the range InfluxDB stores, so an open-ended
query (`datetime.min`..`datetime.max`) still works. `tz` must name a zone `zoneinfo` knows.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from backend.storage.influx.line_protocol import MAX_TIME_NS, MIN_TIME_NS
from backend.storage.model import ALL_TAGS, FieldValue, SeriesQuery, TagMatch
from backend.storage.schema import time_ns

_IDENT_ESCAPES: Final = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_STRING_ESCAPES: Final = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})
_TZ_NAME: Final = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")
#: InfluxQL duration units, largest first, in microseconds (timedelta's resolution).
_DURATION_UNITS: Final = (("w", 604_800_000_000), ("d", 86_400_000_000), ("h", 3_600_000_000),
                          ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000), ("u", 1))  # fmt: skip


def quote_ident(name: str) -> str:
    """`"name"` with escapes, for measurements, retention policies, databases, tag and field keys."""
    return f'"{_text(name).translate(_IDENT_ESCAPES)}"'


def quote_string(value: str) -> str:
    """`'value'` with escapes, for tag values, string field values and time zone names."""
    return f"'{_text(value).translate(_STRING_ESCAPES)}'"


def literal(value: FieldValue) -> str:
    """An InfluxQL literal for a field value (filters). Floats in positional notation: InfluxQL has no
    exponents, and the digits of `repr` make the literal parse to the very same double."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} cannot be a filter value")
        text = format(Decimal(repr(value)), "f")
        return text if "." in text else f"{text}.0"
    if isinstance(value, str):
        return quote_string(value)
    raise ValueError(f"filter value {value!r} is not a float, int, str or bool")


def time_literal(moment: datetime) -> str:
    """Integer ns since the epoch, clamped to InfluxDB's time range."""
    return str(min(max(time_ns(moment), MIN_TIME_NS), MAX_TIME_NS))


def duration_literal(every: timedelta) -> str:
    """`1d`, `15m`, `500ms`: the largest InfluxQL unit that expresses `every` exactly."""
    micros = every // timedelta(microseconds=1)
    if micros <= 0:
        raise ValueError(f"bucket width {every} must be positive")
    for unit, size in _DURATION_UNITS:
        if micros % size == 0:
            return f"{micros // size}{unit}"
    raise AssertionError("unreachable: 1 us divides every duration")  # pragma: no cover


def source(database: str, retention_policy: str, measurement: str) -> str:
    """`"db"."rp"."measurement"`."""
    return ".".join(quote_ident(part) for part in (database, retention_policy, measurement))


def tag_condition(tags: Mapping[str, TagMatch]) -> list[str]:
    """One condition per tag: `"k"::tag = 'v'`, or `(... OR ...)` for a tuple of values."""
    return [_any_of(f"{quote_ident(key)}::tag", _values(key, match)) for key, match in sorted(tags.items())]


def field_condition(filters: Mapping[str, FieldValue | tuple[FieldValue, ...]]) -> list[str]:
    return [
        _any_of(f"{quote_ident(key)}::field", _values(key, match)) for key, match in sorted(filters.items())
    ]


def select(query: SeriesQuery, database: str, retention_policy: str) -> str:
    """The SELECT statement answering `query` (see backend.storage.model for the semantics)."""
    if query.agg is None:
        columns = [f"{quote_ident(name)}::field" for name in query.fields]
    else:
        columns = [f"{query.agg.value}({quote_ident(name)}) AS {quote_ident(name)}" for name in query.fields]
    conditions = [
        f"time >= {time_literal(query.start)}",
        f"time < {time_literal(query.end)}",
        *tag_condition(query.tags),
        *field_condition(query.field_filters),
    ]
    parts = [
        f"SELECT {', '.join(columns)}",
        f"FROM {source(database, retention_policy, query.measurement)}",
        f"WHERE {' AND '.join(conditions)}",
    ]
    group = _group_by(query)
    if group:
        parts.append(f"GROUP BY {', '.join(group)}")
    if query.every is not None:
        parts.append("fill(none)")
    if query.descending:
        parts.append("ORDER BY time DESC")
    parts.extend(_paging(query))
    if query.tz is not None:
        parts.append(f"tz({quote_string(valid_tz(query.tz))})")
    return " ".join(parts)


def show_field_keys(database: str, retention_policy: str, measurement: str) -> str:
    source_ = f"{quote_ident(retention_policy)}.{quote_ident(measurement)}"
    return f"SHOW FIELD KEYS ON {quote_ident(database)} FROM {source_}"


def show_tag_values(
    database: str, retention_policy: str, measurement: str, tag: str, tags: Mapping[str, TagMatch]
) -> str:
    statement = (
        f"SHOW TAG VALUES ON {quote_ident(database)} "
        f"FROM {quote_ident(retention_policy)}.{quote_ident(measurement)} WITH KEY = {quote_ident(tag)}"
    )
    conditions = tag_condition(tags)
    return f"{statement} WHERE {' AND '.join(conditions)}" if conditions else statement


def valid_tz(name: str) -> str:
    """`name` if it is an IANA zone name zoneinfo knows (influxd loads the same tz database)."""
    if not _TZ_NAME.fullmatch(name):
        raise ValueError(f"time zone {name!r} is not an IANA zone name like 'Asia/Makassar'")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def _group_by(query: SeriesQuery) -> list[str]:
    group = []
    if query.every is not None:
        group.append(f"time({duration_literal(query.every)})")
    if query.group_by == ALL_TAGS:
        group.append("*")
    else:
        group.extend(quote_ident(tag) for tag in query.group_by)
    return group


def _paging(query: SeriesQuery) -> list[str]:
    # LIMIT 0 / SLIMIT 0 mean "no limit" in InfluxQL, so the caller answers those without asking.
    for name, value in (("limit", query.limit), ("series_limit", query.series_limit)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if query.offset < 0:
        raise ValueError(f"offset must not be negative, got {query.offset}")
    parts = []
    if query.limit is not None:
        parts.append(f"LIMIT {query.limit}")
    if query.offset:
        parts.append(f"OFFSET {query.offset}")
    # No SLIMIT: influxd 1.x counts series without points in the range and picks them per shard in its own
    # order, so the storage cuts the sorted series list itself (same answer as the SQLite backend).
    return parts


def _values(key: str, match: FieldValue | tuple[FieldValue, ...]) -> tuple[FieldValue, ...]:
    values = match if isinstance(match, tuple) else (match,)
    if not values:
        raise ValueError(f"filter on {key!r} lists no values")
    return values


def _any_of(column: str, values: tuple[FieldValue, ...]) -> str:
    terms = [f"{column} = {literal(value)}" for value in values]
    return terms[0] if len(terms) == 1 else f"({' OR '.join(terms)})"


def _text(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {text!r}")
    if "\x00" in text:
        # The InfluxQL scanner takes NUL for the end of input: no quoting can carry it.
        raise ValueError(f"{text!r} contains NUL, which InfluxQL cannot express")
    return text
