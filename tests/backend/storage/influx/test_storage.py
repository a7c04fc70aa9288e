"""InfluxStorage against a real influxd 1.6: setup, retention policy placement, every query shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import (
    ALL_TAGS,
    Aggregate,
    Point,
    Retention,
    Row,
    Series,
    SeriesQuery,
    StorageRejected,
    StorageUnavailable,
)
from backend.storage.schema import READING, VEHICLE, time_ns
from tests.harness.influxd import Influxd

# Recent, so inside the raw retention policy (points beyond it are refused), and a UTC midnight.
T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def at(minutes: float) -> datetime:
    return T0 + minutes * MINUTE


def reading(site: str, device: str, minutes: float, value: float, **extra: str | int | float) -> Point:
    fields = {"value": value, "quality": "good", "qc_flag": 1} | extra
    return Point(READING, {"site": site, "device": device}, fields, time_ns(at(minutes)))


DATA = [
    reading("ampal", "wl-1", 0, 1.0),
    reading("ampal", "wl-1", 10, 2.0),
    reading("ampal", "wl-1", 70, 4.0, quality="suspect", qc_flag=3),
    reading("ampal", "wl-2", 5, 10.0),
    reading("ampal", "wl-2", 65, 20.0),
    reading("klandasan", "wl-9", 30, 7.5),
]


def q(**changes: object) -> SeriesQuery:
    base: dict[str, object] = {"measurement": READING, "fields": ("value",), "start": T0, "end": at(180)}
    return SeriesQuery(**(base | changes))  # type: ignore[arg-type]


def values(series: Series, name: str = "value") -> list[object]:
    return [row.values[name] for row in series.rows]


@pytest.fixture
async def loaded(influx_storage: InfluxStorage) -> InfluxStorage:
    await influx_storage.write(DATA)
    return influx_storage


async def test_setup_is_idempotent_and_creates_both_policies(influxd: Influxd, influx_db: str) -> None:
    config = InfluxConfig(url=influxd.url, database=influx_db)
    storage = InfluxStorage(config, Retention(raw=timedelta(days=30), long=None))
    try:
        await storage.setup()
        await storage.setup()
        policies = _policies(influxd, influx_db)
        assert policies["pantau_raw"] == ("720h0m0s", True)
        assert policies["pantau_long"] == ("0s", False)
        # A changed retention is applied to the existing policy.
        storage.retention = Retention(raw=timedelta(days=7), long=timedelta(days=400))
        await storage.setup()
        policies = _policies(influxd, influx_db)
        assert policies["pantau_raw"] == ("168h0m0s", True)
        assert policies["pantau_long"] == ("9600h0m0s", False)
    finally:
        await storage.close()


def _policies(influxd: Influxd, database: str) -> dict[str, tuple[str, bool]]:
    body = influxd.query(f'SHOW RETENTION POLICIES ON "{database}"')
    series = body["results"][0]["series"][0]
    columns = series["columns"]
    return {
        row[0]: (row[columns.index("duration")], row[columns.index("default")]) for row in series["values"]
    }


async def test_measurements_land_in_their_retention_policy(
    influx_storage: InfluxStorage, influxd: Influxd, influx_db: str
) -> None:
    vehicle = Point(VEHICLE, {"site": "km13"}, {"gvw_kg": 41_000.0}, time_ns(T0))
    await influx_storage.write([vehicle, DATA[0]])

    def count(policy: str, measurement: str) -> int:
        body = influxd.query(f'SELECT count(*) FROM "{influx_db}"."{policy}"."{measurement}"', influx_db)  # noqa: S608
        return len(body["results"][0].get("series", []))

    assert (count("pantau_long", VEHICLE), count("pantau_raw", VEHICLE)) == (1, 0)
    assert (count("pantau_raw", READING), count("pantau_long", READING)) == (1, 0)
    result = await influx_storage.query(
        SeriesQuery(VEHICLE, ("gvw_kg",), T0, at(1)),
    )
    assert result == [Series({}, [Row(T0, {"gvw_kg": 41_000.0})])]


async def test_raw_rows_in_time_order_with_types_restored(loaded: InfluxStorage) -> None:
    (series,) = await loaded.query(q(fields=("value", "quality", "qc_flag"), tags={"device": "wl-1"}))
    assert series.tags == {}
    assert [row.time for row in series.rows] == [at(0), at(10), at(70)]
    assert series.rows[0].values == {"value": 1.0, "quality": "good", "qc_flag": 1}
    # JSON says `1` for the float 1.0: the storage gives back a float, as written.
    assert all(type(row.values["value"]) is float for row in series.rows)
    assert all(type(row.values["qc_flag"]) is int for row in series.rows)


async def test_all_tags_gives_one_series_per_tag_set(loaded: InfluxStorage) -> None:
    result = await loaded.query(q(group_by=ALL_TAGS))
    assert [s.tags for s in result] == [
        {"device": "wl-1", "site": "ampal"},
        {"device": "wl-2", "site": "ampal"},
        {"device": "wl-9", "site": "klandasan"},
    ]
    assert [values(s) for s in result] == [[1.0, 2.0, 4.0], [10.0, 20.0], [7.5]]


async def test_absent_fields_read_as_none(influx_storage: InfluxStorage) -> None:
    await influx_storage.write(
        [
            Point("m", {}, {"a": 1.0}, time_ns(at(0))),
            Point("m", {}, {"b": "x"}, time_ns(at(1))),
        ]
    )
    (series,) = await influx_storage.query(SeriesQuery("m", ("a", "b", "never"), T0, at(2)))
    assert [row.values for row in series.rows] == [
        {"a": 1.0, "b": None, "never": None},
        {"a": None, "b": "x", "never": None},
    ]


async def test_nothing_matches_gives_no_series(loaded: InfluxStorage) -> None:
    assert await loaded.query(q(tags={"site": "nowhere"})) == []
    assert await loaded.query(q(measurement="no_such_measurement")) == []
    assert await loaded.query(q(tags={"site": ()})) == []
    assert await loaded.query(q(limit=0)) == []


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        (Aggregate.MEAN, [[1.5, 4.0], [10.0, 20.0], [7.5]]),
        (Aggregate.MIN, [[1.0, 4.0], [10.0, 20.0], [7.5]]),
        (Aggregate.MAX, [[2.0, 4.0], [10.0, 20.0], [7.5]]),
        (Aggregate.FIRST, [[1.0, 4.0], [10.0, 20.0], [7.5]]),
        (Aggregate.LAST, [[2.0, 4.0], [10.0, 20.0], [7.5]]),
        (Aggregate.SUM, [[3.0, 4.0], [10.0, 20.0], [7.5]]),
        (Aggregate.COUNT, [[2, 1], [1, 1], [1]]),
    ],
)
async def test_aggregates_per_hour_bucket(
    loaded: InfluxStorage, agg: Aggregate, expected: list[list[float | int]]
) -> None:
    result = await loaded.query(q(every=timedelta(hours=1), agg=agg, group_by=("device",)))
    assert [s.tags for s in result] == [{"device": "wl-1"}, {"device": "wl-2"}, {"device": "wl-9"}]
    assert [values(s) for s in result] == expected
    # Bucket start as the row time; empty buckets left out (fill(none)).
    assert [row.time for row in result[0].rows] == [at(0), at(60)]
    expected_type = int if agg is Aggregate.COUNT else float
    assert all(type(v) is expected_type for s in result for v in values(s))


async def test_group_by_site_merges_devices(loaded: InfluxStorage) -> None:
    result = await loaded.query(q(every=timedelta(hours=3), agg=Aggregate.MAX, group_by=("site",)))
    assert [(s.tags, values(s)) for s in result] == [
        ({"site": "ampal"}, [20.0]),
        ({"site": "klandasan"}, [7.5]),
    ]


async def test_days_in_makassar_start_at_local_midnight(influx_storage: InfluxStorage) -> None:
    # WITA is UTC+8: T0 + 15:30 is still that day locally, T0 + 16:30 already the next one.
    points = [
        Point("rain", {}, {"mm": 1.0}, time_ns(T0 + 15.5 * HOUR)),
        Point("rain", {}, {"mm": 2.0}, time_ns(T0 + 16.5 * HOUR)),
        Point("rain", {}, {"mm": 4.0}, time_ns(T0 + 27 * HOUR)),
    ]
    await influx_storage.write(points)
    query = SeriesQuery(
        "rain",
        ("mm",),
        T0 - 8 * HOUR,
        T0 + 40 * HOUR,
        every=timedelta(days=1),
        agg=Aggregate.SUM,
        tz="Asia/Makassar",
    )
    (series,) = await influx_storage.query(query)
    assert series.rows == [
        Row(T0 - 8 * HOUR, {"mm": 1.0}),
        Row(T0 + 16 * HOUR, {"mm": 6.0}),
    ]
    assert all(row.time.tzinfo is UTC for row in series.rows)


async def test_limit_and_offset_apply_per_series(loaded: InfluxStorage) -> None:
    result = await loaded.query(q(group_by=("device",), limit=1, offset=1))
    assert [(s.tags["device"], values(s)) for s in result] == [("wl-1", [2.0]), ("wl-2", [20.0])]


async def test_series_limit(loaded: InfluxStorage) -> None:
    result = await loaded.query(q(group_by=("device",), series_limit=2))
    assert [s.tags["device"] for s in result] == ["wl-1", "wl-2"]


async def test_descending(loaded: InfluxStorage) -> None:
    (series,) = await loaded.query(q(tags={"device": "wl-1"}, descending=True, limit=2))
    assert [row.time for row in series.rows] == [at(70), at(10)]
    hourly = await loaded.query(
        q(tags={"device": "wl-1"}, every=timedelta(hours=1), agg=Aggregate.COUNT, descending=True)
    )
    assert [row.time for row in hourly[0].rows] == [at(60), at(0)]


async def test_start_inclusive_end_exclusive(loaded: InfluxStorage) -> None:
    (series,) = await loaded.query(q(start=at(10), end=at(70), tags={"site": "ampal"}))
    assert [row.time for row in series.rows] == [at(10), at(65)]


async def test_field_filters(loaded: InfluxStorage) -> None:
    (series,) = await loaded.query(q(field_filters={"quality": "suspect"}))
    assert values(series) == [4.0]
    (series,) = await loaded.query(q(field_filters={"value": (1.0, 7.5), "qc_flag": 1}))
    assert values(series) == [1.0, 7.5]
    (series,) = await loaded.query(q(field_filters={"qc_flag": (3, 9)}, fields=("qc_flag",)))
    assert values(series, "qc_flag") == [3]


async def test_tag_tuple_filters_and_absent_tag_as_empty(loaded: InfluxStorage) -> None:
    result = await loaded.query(q(tags={"device": ("wl-2", "wl-9")}, group_by=("device",)))
    assert [s.tags["device"] for s in result] == ["wl-2", "wl-9"]
    await loaded.write([Point(READING, {"site": "ampal"}, {"value": 99.0}, time_ns(at(1)))])
    (series,) = await loaded.query(q(tags={"device": ""}))
    assert values(series) == [99.0]
    result = await loaded.query(q(tags={"site": "ampal"}, group_by=("device",)))
    assert result[0].tags == {"device": ""}


async def test_tag_values(loaded: InfluxStorage) -> None:
    assert await loaded.tag_values(READING, "site") == ["ampal", "klandasan"]
    assert await loaded.tag_values(READING, "device", {"site": "ampal"}) == ["wl-1", "wl-2"]
    assert await loaded.tag_values(READING, "device", {"site": ("klandasan", "x")}) == ["wl-9"]
    assert await loaded.tag_values(READING, "device", {"site": ()}) == []
    assert await loaded.tag_values("no_such", "site") == []


async def test_bad_query_is_rejected(loaded: InfluxStorage) -> None:
    with pytest.raises(StorageRejected, match="time zone"):
        await loaded.query(q(every=timedelta(days=1), agg=Aggregate.MEAN, tz="Nowhere/Atlantis"))
    with pytest.raises(StorageRejected):
        # mean of a string field: InfluxDB refuses it.
        await loaded.query(q(fields=("quality",), every=timedelta(hours=1), agg=Aggregate.MEAN))


async def test_expire_is_a_no_op_and_ping_answers(loaded: InfluxStorage) -> None:
    await loaded.expire(datetime.now(UTC))
    await loaded.ping()


async def test_ping_fails_without_a_server() -> None:
    from tests.harness.process import free_port  # noqa: PLC0415 - only this test needs a dead port

    storage = InfluxStorage(InfluxConfig(url=f"http://127.0.0.1:{free_port()}"), Retention())
    try:
        with pytest.raises(StorageUnavailable):
            await storage.ping()
    finally:
        await storage.close()
