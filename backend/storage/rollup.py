"""Rollups: 1-minute and 1-hour aggregates of readings, kept long after raw data expires.

Computed by the backend, not by InfluxDB continuous queries: InfluxDB 2.x replaced those with tasks and 3.x
has neither, while a rollup built from `Storage.query` + `Storage.write` works the same on every InfluxDB
and on SQLite. Only values of quality good or suspect are aggregated (bad and missing have no value or a
wrong one). Each pass recomputes the last `lookback` of buckets, so readings that arrive a little late are
folded in; rollup writes are idempotent, so recomputing is harmless, and several workers doing it at once
only cost work.

Readings (and vehicles) older than that window, a gateway replaying days of outbox after an outage, would
otherwise never reach the rollups, and once raw data expires their hours would be gone from the long-term
view for good: the writer marks the UTC hours of such points (`late_hours`) in the spool as it releases
them, a regular pass that fails marks the hours of its window, and the worker's rollup pass recomputes
each marked hour once it has ended and nothing was stored in it for `late_settle`. `pantau backend rollup`
rebuilds any range by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from backend.storage.model import Aggregate, FieldValue, Point, SeriesQuery, Storage
from backend.storage.schema import READING, READING_1H, READING_1M, VEHICLE, time_ns

#: Rollup measurement -> bucket width.
ROLLUPS: Final = {READING_1M: timedelta(minutes=1), READING_1H: timedelta(hours=1)}
#: Field of the rollup point -> aggregate of `reading.value` it holds.
ROLLUP_FIELDS: Final = {
    "mean": Aggregate.MEAN,
    "min": Aggregate.MIN,
    "max": Aggregate.MAX,
    "last": Aggregate.LAST,
    "count": Aggregate.COUNT,
}
USABLE_QUALITY: Final = ("good", "suspect")
_SERIES_TAGS: Final = ("site", "device", "channel")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


_HOUR_NS: Final = 3600 * 10**9
#: Measurements whose late points leave their hour's rollups to be recomputed.
_ROLLED_UP: Final = frozenset({READING, VEHICLE})


def late_hours(points: Iterable[Point], older_than_ns: int) -> set[int]:
    """The UTC hours (epoch seconds) holding reading or vehicle points dated before `older_than_ns`."""
    return {
        point.time_ns // _HOUR_NS * 3600
        for point in points
        if point.time_ns < older_than_ns and point.measurement in _ROLLED_UP
    }


def hours_between(start: datetime, end: datetime) -> list[int]:
    """The UTC hours (epoch seconds) touching [start, end)."""
    first = int(floor_time(start, timedelta(hours=1)).timestamp())
    return list(range(first, int(end.timestamp()), 3600))


def floor_time(moment: datetime, every: timedelta) -> datetime:
    """Start of the UTC-aligned bucket holding `moment`."""
    return _EPOCH + ((moment - _EPOCH) // every) * every


async def roll_up(storage: Storage, measurement: str, start: datetime, end: datetime) -> int:
    """Store the `measurement` rollup of the complete buckets in [start, end); returns points written."""
    every = ROLLUPS[measurement]
    start, end = floor_time(start, every), floor_time(end, every)
    if start >= end:
        return 0
    fields: dict[tuple[tuple[str, ...], datetime], dict[str, FieldValue]] = {}
    for name, aggregate in ROLLUP_FIELDS.items():
        query = SeriesQuery(
            READING,
            ("value",),
            start,
            end,
            field_filters={"quality": USABLE_QUALITY},
            group_by=_SERIES_TAGS,
            every=every,
            agg=aggregate,
        )
        for series in await storage.query(query):
            key = tuple(series.tags.get(tag, "") for tag in _SERIES_TAGS)
            for row in series.rows:
                value = row.values["value"]
                if value is not None:
                    fields.setdefault((key, row.time), {})[name] = value
    points = list(_points(measurement, fields.items()))
    if points:
        await storage.write(points)
    return len(points)


def _points(
    measurement: str, buckets: Iterable[tuple[tuple[tuple[str, ...], datetime], dict[str, FieldValue]]]
) -> Iterable[Point]:
    for (key, at), values in buckets:
        tags = {tag: value for tag, value in zip(_SERIES_TAGS, key, strict=True) if value}
        typed: dict[str, FieldValue] = {
            name: (int(value) if name == "count" else float(value)) for name, value in values.items()
        }
        yield Point(measurement, tags, typed, time_ns(at))
