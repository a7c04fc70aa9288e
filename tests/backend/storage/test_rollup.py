"""Rollups on both backends: 1-minute and 1-hour aggregates of usable readings, recomputed idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.config import RollupConfig
from backend.storage.model import ALL_TAGS, Point, SeriesQuery, Storage
from backend.storage.rollup import floor_time, hours_between, late_hours, roll_up
from backend.storage.schema import READING_1H, READING_1M, readings_points
from pantau.contract import Reading, Readings

# Within raw retention (90 days), whatever day the suite runs.
HOUR0 = floor_time(datetime.now(UTC) - timedelta(days=2), timedelta(hours=1))
FIELDS = ("mean", "min", "max", "last", "count")


def poll(second: int, value: Reading) -> Readings:
    return Readings(
        site="ampal-mufakat",
        gateway="gw",
        seq=second,
        ts=HOUR0 + timedelta(seconds=second),
        device="wl-1",
        channels={"level": value},
    )


async def write(storage: Storage, *polls: Readings) -> None:
    await storage.write([p for message in polls for p in readings_points(message)])


async def rollup_rows(storage: Storage, measurement: str) -> list[tuple[datetime, dict[str, object]]]:
    query = SeriesQuery(
        measurement, FIELDS, HOUR0 - timedelta(days=1), HOUR0 + timedelta(days=1), group_by=ALL_TAGS
    )
    result = await storage.query(query)
    assert all(
        series.tags == {"site": "ampal-mufakat", "device": "wl-1", "channel": "level"} for series in result
    )
    return [(row.time, dict(row.values)) for series in result for row in series.rows]


async def test_minute_and_hour_rollups_aggregate_usable_values_only(storage: Storage) -> None:
    await write(
        storage,
        poll(0, Reading(value=1.0)),
        poll(20, Reading(value=3.0, quality="suspect", reason="spike")),
        poll(40, Reading(value=99.0, quality="bad", reason="gross_range")),  # never aggregated
        poll(50, Reading.missing("timeout")),
        poll(70, Reading(value=2.0)),
        poll(3600, Reading(value=5.0)),  # next hour: outside the 1-hour range below
    )
    end = HOUR0 + timedelta(hours=1)
    assert await roll_up(storage, READING_1M, HOUR0, end) == 2
    assert await roll_up(storage, READING_1H, HOUR0, end) == 1
    minute = timedelta(minutes=1)
    assert await rollup_rows(storage, READING_1M) == [
        (HOUR0, {"mean": 2.0, "min": 1.0, "max": 3.0, "last": 3.0, "count": 2}),
        (HOUR0 + minute, {"mean": 2.0, "min": 2.0, "max": 2.0, "last": 2.0, "count": 1}),
    ]
    assert await rollup_rows(storage, READING_1H) == [
        (HOUR0, {"mean": 2.0, "min": 1.0, "max": 3.0, "last": 2.0, "count": 3}),
    ]


async def test_a_late_reading_is_folded_in_when_the_window_is_recomputed(storage: Storage) -> None:
    await write(storage, poll(0, Reading(value=1.0)))
    end = HOUR0 + timedelta(minutes=5)
    await roll_up(storage, READING_1M, HOUR0, end)
    await write(storage, poll(30, Reading(value=4.0)))  # a gateway's backlog arrives late
    await roll_up(storage, READING_1M, HOUR0, end)
    assert await rollup_rows(storage, READING_1M) == [
        (HOUR0, {"mean": 2.5, "min": 1.0, "max": 4.0, "last": 4.0, "count": 2}),
    ]


async def test_incomplete_buckets_are_left_for_a_later_pass(storage: Storage) -> None:
    await write(storage, poll(0, Reading(value=1.0)))
    assert await roll_up(storage, READING_1H, HOUR0, HOUR0 + timedelta(minutes=59)) == 0
    assert await rollup_rows(storage, READING_1H) == []


def test_late_hours_are_those_of_old_readings_and_vehicles_only() -> None:
    hour_ns = 3600 * 10**9
    points = [
        Point("reading", {}, {"value": 1.0}, 5 * hour_ns + 1),
        Point("reading", {}, {"value": 1.0}, 5 * hour_ns + 2),
        Point("vehicle", {}, {"gvw_kg": 1.0}, 7 * hour_ns),
        Point("device_status", {}, {"state_code": 0}, 6 * hour_ns),  # not rolled up
        Point("reading", {}, {"value": 1.0}, 9 * hour_ns),  # not older than the bound
    ]
    assert late_hours(points, older_than_ns=9 * hour_ns) == {5 * 3600, 7 * 3600}


def test_the_late_bound_leaves_a_pass_room_inside_the_shortest_lookback() -> None:
    assert RollupConfig().late_after == timedelta(minutes=15)  # half of the 1-minute rollup's 30 min
    assert RollupConfig(lookback_1m=timedelta(minutes=4)).late_after == timedelta(minutes=2)
    assert RollupConfig(
        lookback_1m=timedelta(minutes=90), lookback_1h=timedelta(hours=2)
    ).late_after == timedelta(minutes=45)
    assert RollupConfig(enabled=False).late_after is None
    assert RollupConfig(every=timedelta(hours=2)).late_after == timedelta(0)


def test_the_hours_of_a_window_are_every_hour_it_touches() -> None:
    start = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    hours = hours_between(start, start + timedelta(hours=2))
    assert [datetime.fromtimestamp(h, UTC).hour for h in hours] == [9, 10, 11]
