"""Vehicle statistics per hour or day, from the vehicles themselves or from their hourly rollup.

Tallied vehicle by vehicle, `/vehicles/stats` over the whole history read every vehicle ever stored: in the
demo its cost went from 8.5 to 52 ms in an hour (about 1.2 s after a day). Complete UTC hours are instead
read from `vehicle_1h`: one point per hour and vehicle series (the `vehicle` tags) holding the sums a bucket
is made of, written by the worker's rollup pass (`roll_up_vehicles`). Only what the rollup does not cover
yet, the hours after its watermark and the partial hours at the edges of the range, is read vehicle by
vehicle, so the cost no longer grows with history.

The watermark (`vehicle_rollup_state`, one point a day, field `through_ns`) says every hour before it is
rolled up. When an hour ends, a pass recomputes from `lookback` before the watermark, so vehicles that
arrive late within that window (a gateway replaying its outbox) are folded in; a backlog older than that needs
`pantau backend rollup`, as the reading rollups do. The first pass starts at the first stored vehicle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from backend.api.road_wear import esal_of
from backend.storage.model import ALL_TAGS, FieldValue, Point, Row, SeriesQuery, Storage, TagMatch
from backend.storage.read_model import as_bool, as_float, as_int
from backend.storage.rollup import floor_time
from backend.storage.schema import VEHICLE, VEHICLE_1H, VEHICLE_ROLLUP_STATE, time_ns

HOUR: Final = timedelta(hours=1)
#: Vehicle fields a tally reads.
TALLY_FIELDS: Final = ("gvw_kg", "axles", "overloaded", "over_dimension", "excess_kg", "esal")
#: The sums of a bucket, as `vehicle_1h` fields: counts are integers, the rest floats.
COUNTS: Final = ("vehicles", "judged", "overloaded", "over_dimension")
SUMS: Final = ("excess_kg", "gvw_kg", "esal")
#: Contract times lie in 2000-2099: the first vehicle is looked for from here.
_EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
_DAY: Final = timedelta(days=1)
_STATE_TAGS: Final = {"rollup": VEHICLE_1H}


@dataclass
class Tally:
    """The sums of one bucket."""

    vehicles: int = 0
    judged: int = 0
    overloaded: int = 0
    over_dimension: int = 0
    excess_kg: float = 0.0
    gvw_kg: float = 0.0
    esal: float = 0.0

    def add_vehicle(self, values: Mapping[str, FieldValue | None]) -> None:
        self.vehicles += 1
        overloaded = as_bool(values.get("overloaded"))
        if overloaded is not None:
            self.judged += 1
            if overloaded:
                self.overloaded += 1
                self.excess_kg += max(0.0, as_float(values.get("excess_kg")) or 0.0)
        self.over_dimension += 1 if as_bool(values.get("over_dimension")) else 0
        self.gvw_kg += as_float(values.get("gvw_kg")) or 0.0
        self.esal += esal_of(values.get("esal"), values.get("axles")) or 0.0

    def add_rollup(self, values: Mapping[str, FieldValue | None]) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + (as_int(values.get(name)) or 0))
        for name in SUMS:
            setattr(self, name, getattr(self, name) + (as_float(values.get(name)) or 0.0))

    def fields(self) -> dict[str, FieldValue]:
        return {name: getattr(self, name) for name in COUNTS + SUMS}


def bucket_start(at: datetime, every: Literal["1h", "1d"], zone: ZoneInfo) -> datetime:
    """Start (UTC) of the local hour or day holding `at`."""
    local = at.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    if every == "1d":
        local = local.replace(hour=0)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Plan:
    """Which part of [start, end) comes from the rollup (`rolled`, whole UTC hours; may be empty)."""

    rolled: tuple[datetime, datetime] | None
    raw: list[tuple[datetime, datetime]]


def plan(start: datetime, end: datetime, watermark: datetime | None) -> Plan:
    """Whole UTC hours below the watermark from the rollup, the rest vehicle by vehicle. A local hour or day
    is whole UTC hours in every zone the API takes (`params.TimeZone`: UTC and Indonesia's three)."""
    if watermark is None:
        return Plan(None, [(start, end)])
    first = floor_time(start, HOUR)
    first = first if first == start else first + HOUR
    last = floor_time(min(end, watermark), HOUR)
    if last <= first:
        return Plan(None, [(start, end)])
    raw = [(a, b) for a, b in ((start, first), (last, end)) if a < b]
    return Plan((first, last), raw)


async def rollup_watermark(storage: Storage, now: datetime) -> datetime | None:
    """Every hour before this is in `vehicle_1h` (None: no rollup pass has finished yet)."""
    query = SeriesQuery(
        VEHICLE_ROLLUP_STATE, ("through_ns",), _EARLIEST, now + timedelta(days=1), tags=_STATE_TAGS,
        descending=True, limit=1,
    )  # fmt: skip
    for series in await storage.query(query):
        for row in series.rows:
            through = row.values["through_ns"]
            if isinstance(through, int) and not isinstance(through, bool):
                return datetime.fromtimestamp(through / 1e9, UTC)
    return None


async def roll_up_vehicles(storage: Storage, now: datetime, lookback: timedelta) -> int:
    """A pass: once an hour has ended, recompute `vehicle_1h` from `lookback` before the watermark (or the
    first vehicle) up to the current hour, then move the watermark there. Returns the rollup points written.

    Passes within the same hour do nothing: the worker calls this every minute, and re-reading a day of
    vehicles each time cost CPU and transient memory in proportion to the traffic; a vehicle arriving late
    within the lookback is folded in when the hour ends instead."""
    end = floor_time(now, HOUR)
    watermark = await rollup_watermark(storage, now)
    if watermark is not None and end <= watermark:
        return 0
    start = (
        floor_time(watermark - lookback, HOUR)
        if watermark is not None
        else await _first_vehicle(storage, end)
    )
    written = await rebuild_vehicle_rollup(storage, start, end)
    state = Point(
        VEHICLE_ROLLUP_STATE, _STATE_TAGS, {"through_ns": time_ns(end)}, time_ns(floor_time(end, _DAY))
    )
    await storage.write([state])
    return written


async def rebuild_vehicle_rollup(storage: Storage, start: datetime, end: datetime) -> int:
    """Write the `vehicle_1h` points of every hour touching [start, end), an hour at a time (memory holds one
    hour of vehicles whatever the range); returns how many. Whole hours only: a point summing part of an
    hour would replace the whole hour's."""
    start = floor_time(start, HOUR)
    end = end if floor_time(end, HOUR) == end else floor_time(end, HOUR) + HOUR
    written = 0
    while start < end:
        written += await _roll_up_hours(storage, start, start + HOUR)
        start += HOUR
    return written


async def _roll_up_hours(storage: Storage, start: datetime, end: datetime) -> int:
    query = SeriesQuery(VEHICLE, TALLY_FIELDS, start, end, group_by=ALL_TAGS)
    tallies: dict[tuple[tuple[tuple[str, str], ...], datetime], Tally] = {}
    for series in await storage.query(query):
        tags = tuple(sorted((k, v) for k, v in series.tags.items() if v))
        for row in series.rows:
            tallies.setdefault((tags, floor_time(row.time, HOUR)), Tally()).add_vehicle(row.values)
    points = [
        Point(VEHICLE_1H, dict(tags), tally.fields(), time_ns(hour))
        for (tags, hour), tally in tallies.items()
    ]
    if points:
        await storage.write(points)
    return len(points)


async def _first_vehicle(storage: Storage, end: datetime) -> datetime:
    query = SeriesQuery(VEHICLE, ("gvw_kg",), _EARLIEST, end, limit=1)
    rows = [row for series in await storage.query(query) for row in series.rows]
    return floor_time(min((row.time for row in rows), default=end), HOUR)


async def tally_buckets(
    storage: Storage,
    rolled: tuple[datetime, datetime] | None,
    raw_rows: Iterable[Row],
    *,
    tags: Mapping[str, TagMatch],
    every: Literal["1h", "1d"],
    zone: ZoneInfo,
) -> dict[datetime, Tally]:
    """Buckets of the rollup over `rolled` (a `Plan`'s) plus `raw_rows`, tallied one vehicle at a time."""
    buckets: dict[datetime, Tally] = {}
    if rolled is not None:
        query = SeriesQuery(VEHICLE_1H, COUNTS + SUMS, rolled[0], rolled[1], tags=tags)
        for series in await storage.query(query):
            for row in series.rows:
                buckets.setdefault(bucket_start(row.time, every, zone), Tally()).add_rollup(row.values)
    for row in raw_rows:
        buckets.setdefault(bucket_start(row.time, every, zone), Tally()).add_vehicle(row.values)
    return buckets
