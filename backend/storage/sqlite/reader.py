"""Answering `SeriesQuery` and `tag_values` from SQLite, with InfluxQL's semantics (see model.py).

How a query runs:

1. The measurement's fields (`fields` table) give each queried name its id and type; a name never
   written reads as None everywhere, and a query naming only such fields has no rows (as in InfluxDB).
2. The measurement's series are read and matched against the tag filters in Python: tags are ids from
   the inventory, so a measurement has as many series as there are devices/channels, not data points.
   Matching series are grouped by the `group_by` tag values (absent tag = "").
3. Raw rows: one statement per group, pivoting the group's field rows into one row per (series, time),
   with LIMIT/OFFSET in SQL so "the latest value" reads a handful of rows. Aggregates: one statement for
   all groups, bucketed in SQL (buckets.py), aggregated per (group, bucket, field), pivoted here.

Every caller value reaches SQL as a bound parameter; the SQL text is assembled only from fixed fragments
and parameter names generated here.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.storage.model import (
    ALL_TAGS,
    Aggregate,
    FieldValue,
    Row,
    Series,
    SeriesQuery,
    StorageRejected,
    TagMatch,
)
from backend.storage.schema import time_ns
from backend.storage.sqlite.buckets import UTC_OFFSETS, Offsets, SqlParams, zone_offsets
from backend.storage.sqlite.writer import MAX_TIME_NS, MIN_TIME_NS

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TZ_NAME: Final = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")
#: Widest bucket: keeps `time + offset + every` inside 64-bit integers.
_MAX_EVERY_NS: Final = 2**62
#: InfluxDB refuses these aggregates on these field types ("unsupported mean iterator type").
_UNSUPPORTED: Final = {
    Aggregate.MEAN: {"string", "boolean"},
    Aggregate.SUM: {"string", "boolean"},
    Aggregate.MIN: {"string"},
    Aggregate.MAX: {"string"},
}
_SQL_AGGREGATES: Final = {
    Aggregate.MEAN: "AVG(v)",
    Aggregate.SUM: "SUM(v)",
    Aggregate.MIN: "MIN(v)",
    Aggregate.MAX: "MAX(v)",
    Aggregate.COUNT: "COUNT(v)",
}
# first/last by time; equal times (points of several series in one group) go to the larger value, as in
# InfluxDB's FirstReduce/LastReduce (true > false, strings byte-wise).
_WINDOW_ORDER: Final = {Aggregate.FIRST: "t ASC, v DESC", Aggregate.LAST: "t DESC, v DESC"}

Field = tuple[int, str]  # id, type


@dataclass(frozen=True, slots=True)
class _Group:
    tags: dict[str, str]
    series_ids: list[int]


class Reader:
    """Owns one read connection (WAL: reads never wait for the writer)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def query(self, query: SeriesQuery) -> list[Series]:
        every_ns, zone = _checked(query)
        start_ns, end_ns = _clamped(query.start), _clamped(query.end)
        if query.limit == 0 or query.series_limit == 0 or start_ns >= end_ns:
            return []
        if _matches_nothing(query.tags) or _matches_nothing(query.field_filters):
            return []
        fields = self._fields(query.measurement)
        selected = {name: fields[name] for name in query.fields if name in fields}
        if not selected:
            return []
        if query.agg is not None:
            for name, (_, kind) in selected.items():
                if kind in _UNSUPPORTED.get(query.agg, set()):
                    raise StorageRejected(f"{query.agg.value}() of {kind} field {name!r} is not supported")
        filters = _filters(query.field_filters, fields)
        if filters is None:
            return []
        groups = self._groups(query)
        span = _Span(start_ns, end_ns, filters)
        if every_ns is None:
            series = [self._raw(group, query, selected, span) for group in groups]
        else:
            series = self._aggregated(
                groups, query=query, selected=selected, span=span, every_ns=every_ns, zone=zone
            )
        found = [item for item in series if item.rows]
        return found[: query.series_limit] if query.series_limit is not None else found

    def tag_values(self, measurement: str, tag: str, tags: Mapping[str, TagMatch] | None) -> list[str]:
        _check_tag_filters(tags or {})
        if _matches_nothing(tags or {}):
            return []
        values = {
            series_tags[tag]
            for _, series_tags in self._series(measurement)
            if tag in series_tags and _match(series_tags, tags or {})
        }
        return sorted(values)

    def ping(self) -> None:
        self._db.execute("SELECT 1").fetchone()

    def _fields(self, measurement: str) -> dict[str, Field]:
        rows = self._db.execute("SELECT name, id, type FROM fields WHERE measurement = ?", (measurement,))
        return {name: (field_id, kind) for name, field_id, kind in rows}

    def _series(self, measurement: str) -> list[tuple[int, dict[str, str]]]:
        rows = self._db.execute("SELECT id, tags FROM series WHERE measurement = ?", (measurement,))
        return [(series_id, json.loads(tags)) for series_id, tags in rows]

    def _groups(self, query: SeriesQuery) -> list[_Group]:
        """Matching series by group, ordered by the group's tag values (sorted by tag key)."""
        _check_tag_filters(query.tags)
        all_series = self._series(query.measurement)
        if query.group_by == ALL_TAGS:
            # GROUP BY * groups by every tag key of the measurement, even keys a matching series lacks.
            keys = sorted({key for _, tags in all_series for key in tags})
        else:
            keys = sorted(set(query.group_by))
        groups: dict[tuple[str, ...], list[int]] = {}
        # Within a group, series in tag order: that orders rows of equal time (InfluxDB leaves it open).
        for series_id, tags in sorted(all_series, key=lambda item: sorted(item[1].items())):
            if _match(tags, query.tags):
                groups.setdefault(tuple(tags.get(key, "") for key in keys), []).append(series_id)
        return [_Group(dict(zip(keys, values, strict=True)), groups[values]) for values in sorted(groups)]

    def _raw(self, group: _Group, query: SeriesQuery, selected: dict[str, Field], span: _Span) -> Series:
        params: SqlParams = {"start": span.start_ns, "end": span.end_ns}
        pivot = ", ".join(f"MAX(CASE p.field_id WHEN :f{i} THEN p.value END)" for i in range(len(selected)))
        params.update({f"f{i}": field_id for i, (field_id, _) in enumerate(selected.values())})
        order = "DESC" if query.descending else "ASC"
        if len(group.series_ids) == 1:
            # One series: the primary key already orders by time, so LIMIT stops the scan early.
            prefix, source, group_by, ties = "", "points p", "p.time_ns", ""
            where = "p.series_id = :series"
            params["series"] = group.series_ids[0]
        else:
            prefix, source = f"WITH {_SELECTED} ", "sel JOIN points p ON p.series_id = sel.series_id"
            group_by, ties = "p.series_id, p.time_ns", f", MIN(sel.rank) {order}"
            where = "1"
            params["series"] = json.dumps([[sid, rank] for rank, sid in enumerate(group.series_ids)])
        ids = ", ".join(f":f{i}" for i in range(len(selected)))
        sql = (
            f"{prefix}SELECT p.time_ns, {pivot} FROM {source} WHERE {where} "  # noqa: S608 - fixed fragments, generated names
            f"AND p.time_ns >= :start AND p.time_ns < :end AND p.field_id IN ({ids}) "
            f"{span.filter_sql(params)} GROUP BY {group_by} "
            f"ORDER BY p.time_ns {order}{ties} LIMIT :limit OFFSET :offset"
        )
        params["limit"] = -1 if query.limit is None else query.limit
        params["offset"] = query.offset
        kinds = [kind for _, kind in selected.values()]
        rows = []
        for time_ns_, *values in self._execute(sql, params):
            by_name = {
                name: _typed(value, kind) for name, value, kind in zip(selected, values, kinds, strict=True)
            }
            rows.append(Row(_time(time_ns_), {name: by_name.get(name) for name in query.fields}))
        return Series(group.tags, rows)

    def _aggregated(
        self,
        groups: list[_Group],
        *,
        query: SeriesQuery,
        selected: dict[str, Field],
        span: _Span,
        every_ns: int,
        zone: ZoneInfo | None,
    ) -> list[Series]:
        assert query.agg is not None  # noqa: S101 - the caller checked `every`, SeriesQuery pairs them
        membership = [[sid, index] for index, group in enumerate(groups) for sid in group.series_ids]
        params: SqlParams = {
            "series": json.dumps(membership),
            "start": span.start_ns,
            "end": span.end_ns,
            "every": every_ns,
        }
        offsets = UTC_OFFSETS if zone is None else self._zone_offsets(zone, params, every_ns)
        params.update({f"f{i}": field_id for i, (field_id, _) in enumerate(selected.values())})
        ids = ", ".join(f":f{i}" for i in range(len(selected)))
        buckets = (
            f"WITH {_SELECTED}, "  # noqa: S608 - fixed fragments, generated names
            "pts AS (SELECT sel.rank AS grp, p.time_ns AS t, p.field_id AS fid, p.value AS v "
            "FROM sel JOIN points p ON p.series_id = sel.series_id "
            f"WHERE p.time_ns >= :start AND p.time_ns < :end AND p.field_id IN ({ids}) "
            f"{span.filter_sql(params)}), "
            f"zt AS (SELECT grp, t, fid, v, {offsets.sql('t', 'tz', params)} AS z FROM pts), "
            "ct AS (SELECT grp, t, fid, v, z, t - (((t + z) % :every) + :every) % :every AS c FROM zt), "
            f"oc AS (SELECT grp, t, fid, v, c, z - {offsets.sql('c', 'tz', params)} AS o FROM ct), "
            "bt AS (SELECT grp, t, fid, v, "
            "CASE WHEN o != 0 AND abs(o) < :every THEN c + o ELSE c END AS bucket FROM oc) "
        )
        if query.agg in _WINDOW_ORDER:
            order = _WINDOW_ORDER[query.agg]
            sql = (
                f"{buckets}SELECT grp, bucket, fid, v FROM (SELECT grp, bucket, fid, v, ROW_NUMBER() "  # noqa: S608 - fixed fragments, generated names
                f"OVER (PARTITION BY grp, bucket, fid ORDER BY {order}) AS n FROM bt) WHERE n = 1"
            )
        else:
            aggregate = _SQL_AGGREGATES[query.agg]
            sql = f"{buckets}SELECT grp, bucket, fid, {aggregate} FROM bt GROUP BY 1, 2, 3"  # noqa: S608 - fixed fragments, generated names
        cells: dict[int, dict[int, dict[int, FieldValue]]] = {}
        for grp, bucket, field_id, value in self._execute(sql, params):
            cells.setdefault(grp, {}).setdefault(bucket, {})[field_id] = value
        result = []
        for index, group in enumerate(groups):
            by_bucket = cells.get(index, {})
            times = sorted(by_bucket, reverse=query.descending)[query.offset :]
            if query.limit is not None:
                times = times[: query.limit]
            rows = [
                Row(_time(bucket), _bucket_values(by_bucket[bucket], query, selected)) for bucket in times
            ]
            result.append(Series(group.tags, rows))
        return result

    def _zone_offsets(self, zone: ZoneInfo, params: SqlParams, every_ns: int) -> Offsets:
        """The zone's offsets over the data the query reads (not the whole, maybe open-ended, range)."""
        sql = (
            f"WITH {_SELECTED} SELECT min(lo), max(hi) FROM (SELECT "  # noqa: S608 - fixed fragments, generated names
            "(SELECT min(time_ns) FROM points WHERE series_id = sel.series_id "
            "AND time_ns >= :start AND time_ns < :end) AS lo, "
            "(SELECT max(time_ns) FROM points WHERE series_id = sel.series_id "
            "AND time_ns >= :start AND time_ns < :end) AS hi FROM sel)"
        )
        first, last = self._execute(sql, params)[0]
        if first is None:
            return UTC_OFFSETS
        return zone_offsets(zone, first, last, every_ns)

    def _execute(self, sql: str, params: SqlParams) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()


#: The series a statement reads, from a bound JSON array of [series id, rank or group index] pairs.
_SELECTED: Final = (
    "sel(series_id, rank) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
    "FROM json_each(:series))"
)


@dataclass(frozen=True, slots=True)
class _Span:
    start_ns: int
    end_ns: int
    filters: list[tuple[int, list[FieldValue]]]

    def filter_sql(self, params: SqlParams) -> str:
        """`AND EXISTS (...)` per field filter: the same point has that field with one of the values."""
        parts = []
        for i, (field_id, values) in enumerate(self.filters):
            params[f"ff{i}"] = field_id
            names = []
            for j, value in enumerate(values):
                params[f"fv{i}_{j}"] = value
                names.append(f":fv{i}_{j}")
            parts.append(
                "AND EXISTS (SELECT 1 FROM points ff WHERE ff.series_id = p.series_id "  # noqa: S608 - fixed fragments, generated names
                f"AND ff.time_ns = p.time_ns AND ff.field_id = :ff{i} AND ff.value IN ({', '.join(names)}))"
            )
        return " ".join(parts)


def _checked(query: SeriesQuery) -> tuple[int | None, ZoneInfo | None]:
    """The bucket width in ns and the zone; StorageRejected for what InfluxDB would refuse."""
    for name, value in (("limit", query.limit), ("series_limit", query.series_limit)):
        if value is not None and value < 0:
            raise StorageRejected(f"{name} must not be negative, got {value}")
    if query.offset < 0:
        raise StorageRejected(f"offset must not be negative, got {query.offset}")
    every_ns = None
    if query.every is not None:
        every_ns = (query.every // timedelta(microseconds=1)) * 1000
        if not 0 < every_ns <= _MAX_EVERY_NS:
            raise StorageRejected(f"bucket width {query.every} must be positive and at most ~146 years")
    zone = None
    if query.tz is not None:
        if not isinstance(query.tz, str) or not _TZ_NAME.fullmatch(query.tz):
            raise StorageRejected(f"time zone {query.tz!r} is not an IANA zone name like 'Asia/Makassar'")
        try:
            zone = ZoneInfo(query.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise StorageRejected(f"unknown time zone {query.tz!r}") from exc
    return every_ns, zone


def _check_tag_filters(tags: Mapping[str, TagMatch]) -> None:
    for key, match in tags.items():
        values = match if isinstance(match, tuple) else (match,)
        if not isinstance(key, str) or not all(isinstance(value, str) for value in values):
            raise StorageRejected(f"tag filter {key!r}: {match!r} is not text")


def _filters(
    filters: Mapping[str, FieldValue | tuple[FieldValue, ...]], fields: Mapping[str, Field]
) -> list[tuple[int, list[FieldValue]]] | None:
    """(field id, values it may equal) per filter, keeping only values of a comparable type (InfluxQL
    compares numbers with numbers, text with text, booleans with booleans); None if nothing can match."""
    result = []
    for name, match in filters.items():
        values = match if isinstance(match, tuple) else (match,)
        for value in values:
            if not isinstance(value, float | int | str | bool):
                raise StorageRejected(f"filter value {value!r} is not a float, int, str or bool")
            if isinstance(value, float) and not math.isfinite(value):
                raise StorageRejected(f"non-finite number {value!r} cannot be a filter value")
        if name not in fields:
            return None
        field_id, kind = fields[name]
        usable = [value for value in values if _comparable(kind, value)]
        if not usable:
            return None
        result.append((field_id, usable))
    return result


def _comparable(kind: str, value: FieldValue) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if isinstance(value, str):
        return kind == "string"
    return kind in ("integer", "float")


def _match(tags: Mapping[str, str], filters: Mapping[str, TagMatch]) -> bool:
    """Equality on each filtered tag; an absent tag equals "" (as `tag = ''` in InfluxQL)."""
    for key, match in filters.items():
        values = match if isinstance(match, tuple) else (match,)
        if tags.get(key, "") not in values:
            return False
    return True


def _matches_nothing(filters: Mapping[str, object]) -> bool:
    return any(value == () for value in filters.values())


def _clamped(moment: datetime) -> int:
    return min(max(time_ns(moment), MIN_TIME_NS), MAX_TIME_NS + 1)


def _time(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _typed(value: FieldValue | None, kind: str) -> FieldValue | None:
    """SQLite keeps booleans as 0/1; the field's recorded type restores them."""
    if value is None:
        return None
    if kind == "boolean":
        return bool(value)
    if kind == "float":
        return float(value)
    return value


def _bucket_values(
    cells: Mapping[int, FieldValue], query: SeriesQuery, selected: Mapping[str, Field]
) -> dict[str, FieldValue | None]:
    values: dict[str, FieldValue | None] = {}
    for name in query.fields:
        field = selected.get(name)
        value = None if field is None else cells.get(field[0])
        if value is None or query.agg is Aggregate.COUNT:
            values[name] = value
        elif query.agg is Aggregate.MEAN:
            values[name] = float(value)
        else:
            values[name] = _typed(value, field[1] if field else "string")
    return values
