"""Writing points and expiring old ones, on the one connection that writes (owned by one thread).

A point is checked the way InfluxDB 1.x checks a line (the same refusals as the line-protocol encoder, so
both backends accept and refuse the same points), then upserted field by field. Refused points are
reported after the others are committed, as InfluxDB reports a partial write.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from backend.storage.model import FieldValue, Point, Retention, RetentionClass
from backend.storage.schema import RETENTION, time_ns

#: The range InfluxDB accepts for timestamps (models.MinNanoTime / MaxNanoTime).
MIN_TIME_NS: Final = -9_223_372_036_854_775_806
MAX_TIME_NS: Final = 9_223_372_036_854_775_806
_INT64: Final = range(-(2**63), 2**63)
_NEWLINES: Final = ("\n", "\r")
_MICROSECOND: Final = timedelta(microseconds=1)

_UPSERT: Final = (
    "INSERT INTO points (series_id, time_ns, field_id, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (series_id, time_ns, field_id) DO UPDATE SET value = excluded.value"
)


class Refused(ValueError):
    """A point InfluxDB would refuse too; the message says which part and why."""


def field_type(value: FieldValue) -> str:
    """The InfluxDB type of a field value (bool first: True is an int in Python)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    raise Refused(f"field value {value!r} is not a float, int, str or bool")


def canonical_tags(tags: dict[str, str]) -> str:
    """The one spelling of a tag set stored in `series.tags`."""
    return json.dumps(dict(sorted(tags.items())), ensure_ascii=False, separators=(",", ":"))


def check(point: Point) -> dict[str, str]:
    """The point's tags as stored (empty values left out: an absent tag reads as ""); raises Refused."""
    _name(point.measurement, "measurement")
    tags = {}
    for key, value in point.tags.items():
        _key(key, "tag key")
        if not isinstance(value, str):
            raise Refused(f"tag {key!r} value {value!r} is not text")
        if value != "":
            _name(value, "tag value")
            tags[key] = value
    if not point.fields:
        raise Refused("a point needs at least one field")
    for key, field in point.fields.items():
        _key(key, "field key")
        field_type(field)  # refuses a value of no InfluxDB type
        if isinstance(field, int) and field not in _INT64:
            raise Refused(f"integer {field} does not fit in 64 bits")
        if isinstance(field, float) and not math.isfinite(field):
            raise Refused(f"non-finite number {field!r} cannot be stored")
        if isinstance(field, str):
            _name(field, "string field", allow_newline=True, allow_empty=True)
    if not isinstance(point.time_ns, int) or not MIN_TIME_NS <= point.time_ns <= MAX_TIME_NS:
        raise Refused(f"time {point.time_ns!r} ns is outside the range InfluxDB stores")
    return tags


def _key(key: str, what: str) -> None:
    if key == "time":
        raise Refused(f"'time' cannot be a {what}")
    _name(key, what)


def _name(text: str, what: str, *, allow_newline: bool = False, allow_empty: bool = False) -> None:
    if not isinstance(text, str) or (text == "" and not allow_empty):
        raise Refused(f"{what} {text!r} is empty or not text")
    if not allow_newline and any(newline in text for newline in _NEWLINES):
        raise Refused(f"{what} {text!r} contains a line break, which InfluxDB cannot store")
    # The InfluxDB 1.x line-protocol parser cannot read these back unchanged (see influx/line_protocol.py).
    if not allow_newline and (text.endswith("\\") or any(f"\\{c}" in text for c in (",", "=", " "))):
        raise Refused(f"{what} {text!r} has a backslash InfluxDB 1.x cannot store unchanged")
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise Refused(f"{what} {text!r} is not valid Unicode (lone surrogate)") from exc


class Writer:
    """Owns the writing connection; caches series and field ids (this process is the only writer)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._series: dict[tuple[str, str], int] = {}
        self._fields: dict[tuple[str, str], tuple[int, str]] = {}

    def write(self, points: Sequence[Point]) -> list[tuple[Point, str]]:
        """Store what can be stored in one durable transaction; returns the refused points with reasons."""
        refused: list[tuple[Point, str]] = []
        new_series: dict[tuple[str, str], int] = {}
        new_fields: dict[tuple[str, str], tuple[int, str]] = {}
        rows: list[tuple[int, int, int, FieldValue]] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for point in points:
                try:
                    tags = check(point)
                    field_ids = self._field_ids(point, new_fields)
                except Refused as exc:
                    refused.append((point, str(exc)))
                    continue
                series_id = self._series_id(point.measurement, canonical_tags(tags), new_series)
                rows.extend((series_id, point.time_ns, field_id, value) for field_id, value in field_ids)
            self._db.executemany(_UPSERT, rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        # Ids created in the transaction are real only now that it committed.
        self._series.update(new_series)
        self._fields.update(new_fields)
        return refused

    def expire(self, now: datetime, retention: Retention, measurements: Iterable[str]) -> None:
        """Delete points retention no longer keeps, then series left without points (as InfluxDB drops
        them with their shards). One transaction per series, so writers wait only briefly."""
        now_ns = time_ns(now)
        for measurement in measurements:
            long = RETENTION.get(measurement, RetentionClass.RAW) is RetentionClass.LONG
            keep = retention.long if long else retention.raw
            if keep is None:
                continue
            cutoff = now_ns - (keep // _MICROSECOND) * 1000
            series = self._db.execute("SELECT id FROM series WHERE measurement = ?", (measurement,))
            for (series_id,) in series.fetchall():
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute(
                        "DELETE FROM points WHERE series_id = ? AND time_ns < ?", (series_id, cutoff)
                    )
                    self._db.execute(
                        "DELETE FROM series WHERE id = ? AND NOT EXISTS "
                        "(SELECT 1 FROM points WHERE series_id = ?)",
                        (series_id, series_id),
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        self._series.clear()

    def measurements(self) -> list[str]:
        return [name for (name,) in self._db.execute("SELECT DISTINCT measurement FROM series")]

    def _series_id(self, measurement: str, tags: str, new: dict[tuple[str, str], int]) -> int:
        key = (measurement, tags)
        found = self._series.get(key) or new.get(key)
        if found is None:
            self._db.execute(
                "INSERT INTO series (measurement, tags) VALUES (?, ?) ON CONFLICT DO NOTHING", key
            )
            (found,) = self._db.execute(
                "SELECT id FROM series WHERE measurement = ? AND tags = ?", key
            ).fetchone()
            new[key] = found
        return found

    def _field_ids(
        self, point: Point, new: dict[tuple[str, str], tuple[int, str]]
    ) -> list[tuple[int, FieldValue]]:
        """Ids of the point's fields. The first value stored fixes a field's type; a point with a value of
        another type is refused whole (InfluxDB's 'field type conflict'), before it registers anything."""
        known: dict[str, tuple[int, str]] = {}
        for name, value in point.fields.items():
            key = (point.measurement, name)
            found = self._fields.get(key) or new.get(key)
            if found is None:
                row = self._db.execute(
                    "SELECT id, type FROM fields WHERE measurement = ? AND name = ?", key
                ).fetchone()
                found = None if row is None else (row[0], row[1])
            if found is not None:
                if found[1] != field_type(value):
                    raise Refused(
                        f"field type conflict: {name!r} on {point.measurement!r} is {found[1]}, "
                        f"got {field_type(value)}"
                    )
                known[name] = new[key] = found
        ids = []
        for name, value in point.fields.items():
            if name not in known:
                (field_id,) = self._db.execute(
                    "INSERT INTO fields (measurement, name, type) VALUES (?, ?, ?) RETURNING id",
                    (point.measurement, name, field_type(value)),
                ).fetchone()
                known[name] = new[(point.measurement, name)] = (field_id, field_type(value))
            ids.append((known[name][0], value))
        return ids
