"""What only the SQLite backend does itself: retention, durability, its threads, and SQL built safely.

(Query semantics are in test_conformance.py, shared with InfluxDB.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest

from backend.storage.model import (
    ALL_TAGS,
    Aggregate,
    Point,
    Retention,
    Row,
    Series,
    SeriesQuery,
    StorageError,
    StorageRejected,
)
from backend.storage.schema import READING, VEHICLE, time_ns
from backend.storage.sqlite import SqliteStorage

NOW: Final = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
TAGS: Final = {"site": "ampal-mufakat", "device": "wl-radar-1", "channel": "level"}


def reading(at: datetime, value: float, **tags: str) -> Point:
    return Point(READING, TAGS | tags, {"value": value, "quality": "good"}, time_ns(at))


def values_query(measurement: str = READING, **options: Any) -> SeriesQuery:
    return SeriesQuery(
        measurement, ("value",), NOW - timedelta(days=5000), NOW + timedelta(days=1), **options
    )


async def stored_values(storage: SqliteStorage, measurement: str = READING) -> list[Any]:
    result = await storage.query(values_query(measurement))
    return [row.values["value"] for series in result for row in series.rows]


# Retention ------------------------------------------------------------------------------------------


async def test_expire_deletes_what_retention_no_longer_keeps(tmp_path: Path) -> None:
    storage = SqliteStorage(
        tmp_path / "db.sqlite3", Retention(raw=timedelta(days=90), long=timedelta(days=365))
    )
    await storage.setup()
    await storage.write(
        [
            reading(NOW - timedelta(days=91), 1.0),
            reading(NOW - timedelta(days=89), 2.0),
            reading(NOW - timedelta(days=91), 3.0, site="gone"),  # a series left without points
            Point(VEHICLE, {"site": "km13"}, {"value": 4.0}, time_ns(NOW - timedelta(days=366))),
            Point(VEHICLE, {"site": "km13"}, {"value": 5.0}, time_ns(NOW - timedelta(days=91))),
            Point("unknown", {"site": "x"}, {"value": 6.0}, time_ns(NOW - timedelta(days=91))),
            Point("unknown", {"site": "x"}, {"value": 7.0}, time_ns(NOW - timedelta(days=1))),
        ]
    )
    await storage.expire(NOW)
    assert await stored_values(storage) == [2.0]
    assert await stored_values(storage, VEHICLE) == [5.0]
    assert await stored_values(storage, "unknown") == [7.0]  # unknown measurements are kept as raw data
    assert await storage.tag_values(READING, "site") == ["ampal-mufakat"]
    await storage.close()


async def test_expire_keeps_long_term_data_for_its_own_bounded_retention(tmp_path: Path) -> None:
    """Vehicles, alerts and rollups outlive raw data, five years by default, and for ever only when asked."""
    storage = SqliteStorage(tmp_path / "db.sqlite3", Retention(raw=timedelta(days=1)))
    await storage.setup()
    years = [time_ns(NOW - timedelta(days=365 * n)) for n in (4, 6)]
    await storage.write(
        [Point(VEHICLE, {"site": "km13"}, {"value": float(i)}, t) for i, t in enumerate(years)]
    )
    await storage.write([reading(NOW, 2.0)])
    await storage.expire(NOW + timedelta(days=2))
    assert await stored_values(storage, VEHICLE) == [0.0]
    assert await stored_values(storage) == []
    # Writing to a series whose id was deleted works: caches do not outlive the rows.
    await storage.write([reading(NOW, 3.0)])
    assert await stored_values(storage) == [3.0]
    await storage.close()

    forever = SqliteStorage(tmp_path / "forever.sqlite3", Retention(raw=timedelta(days=1), long=None))
    await forever.setup()
    await forever.write(
        [Point(VEHICLE, {"site": "km13"}, {"value": 1.0}, time_ns(NOW - timedelta(days=3650)))]
    )
    await forever.expire(NOW + timedelta(days=2))
    assert await stored_values(forever, VEHICLE) == [1.0]
    await forever.close()


# Durability and threads -----------------------------------------------------------------------------


async def test_written_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "pantau.sqlite3"
    first = SqliteStorage(path, Retention())
    await first.setup()
    await first.write([reading(NOW, 1.5), reading(NOW + timedelta(seconds=1), 2.5)])
    await first.close()
    await first.close()  # idempotent

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()

    second = SqliteStorage(path, Retention())
    await second.setup()
    await second.setup()  # idempotent
    assert await stored_values(second) == [1.5, 2.5]
    await second.ping()
    await second.close()


async def test_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    storage = SqliteStorage(path, Retention())
    with pytest.raises(StorageError, match="schema version 99"):
        await storage.setup()
    await storage.close()


async def test_use_before_setup_is_a_programming_error(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "db.sqlite3", Retention())
    with pytest.raises(RuntimeError, match="setup"):
        await storage.write([reading(NOW, 1.0)])
    await storage.close()


async def test_concurrent_writers_and_readers(sqlite_storage: SqliteStorage) -> None:
    async def writer(task: int) -> None:
        for batch in range(10):
            points = [
                reading(NOW + timedelta(seconds=batch * 10 + n), float(task), device=f"dev-{task}")
                for n in range(10)
            ]
            await sqlite_storage.write(points)
            await sqlite_storage.write(points[:3])  # replays interleave with other writers

    async def reader() -> None:
        for _ in range(20):
            await sqlite_storage.query(values_query(group_by=ALL_TAGS))

    async with asyncio.TaskGroup() as group:
        for task in range(8):
            group.create_task(writer(task), name=f"writer[{task}]")
        group.create_task(reader(), name="reader")

    query = values_query(group_by=("device",), every=timedelta(days=1), agg=Aggregate.COUNT)
    result = await sqlite_storage.query(query)
    assert [(series.tags["device"], series.rows[0].values["value"]) for series in result] == [
        (f"dev-{task}", 100) for task in range(8)
    ]


# Refusals and hostile input -------------------------------------------------------------------------

HOSTILE: Final = [
    "x' OR 1=1 --",
    '"; DROP TABLE points; --',
    "line\nbreak",
    "$.value",
    '$."value"',
    "value[0]",
    "*",
    "') OR ('1'='1",
    "\\",
    "nul\x00byte",
    "ünïcødé ✓",
]


@pytest.mark.parametrize(
    "point",
    [
        Point(READING, {"site": "a\nb"}, {"value": 1.0}, 0),
        Point(READING, {"si\nte": "a"}, {"value": 1.0}, 0),
        Point(READING, {"site": "a"}, {"val\rue": 1.0}, 0),
        Point("", {"site": "a"}, {"value": 1.0}, 0),
        Point(READING, {"time": "a"}, {"value": 1.0}, 0),
        Point(READING, {"site": "a"}, {"time": 1.0}, 0),
        Point(READING, {"site": "a"}, {}, 0),
        Point(READING, {"site": "a"}, {"value": float("inf")}, 0),
        Point(READING, {"site": "a"}, {"value": 2**63}, 0),
        Point(READING, {"site": "a"}, {"value": 1.0}, 2**63),
        Point(READING, {"site": "a"}, {"value": None}, 0),  # type: ignore[dict-item]
    ],
)
async def test_points_influxdb_cannot_store_are_refused(sqlite_storage: SqliteStorage, point: Point) -> None:
    with pytest.raises(StorageRejected) as refused:
        await sqlite_storage.write([point, reading(NOW, 1.0)])
    assert refused.value.rejected == [point]
    assert await stored_values(sqlite_storage) == [1.0]


async def test_hostile_names_and_values_are_stored_and_found_exactly(sqlite_storage: SqliteStorage) -> None:
    safe = [text for text in HOSTILE if "\n" not in text and not text.endswith("\\")]
    points = [
        Point("weird", {"site": text}, {text: float(n), "value": float(n), "note": text}, time_ns(NOW) + n)
        for n, text in enumerate(safe)
    ]
    await sqlite_storage.write(points)
    for n, text in enumerate(safe):
        query = SeriesQuery(
            "weird",
            (text, "note"),
            NOW,
            NOW + timedelta(seconds=1),
            tags={"site": text},
            field_filters={"note": text},
        )
        assert await sqlite_storage.query(query) == [Series({}, [Row(NOW, {text: float(n), "note": text})])]
    assert await sqlite_storage.tag_values("weird", "site") == sorted(safe)


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_query_text_matches_nothing_and_harms_nothing(
    sqlite_storage: SqliteStorage, text: str
) -> None:
    await sqlite_storage.write([reading(NOW, 1.0)])
    day = timedelta(days=1)
    queries = [
        SeriesQuery(text, ("value",), NOW, NOW + day),
        SeriesQuery(READING, (text,), NOW, NOW + day),
        SeriesQuery(READING, ("value",), NOW, NOW + day, tags={"site": text}),
        SeriesQuery(READING, ("value",), NOW, NOW + day, tags={"site": (text, "x' OR '1'='1")}),
        SeriesQuery(READING, ("value",), NOW, NOW + day, tags={text: "ampal-mufakat"}),
        SeriesQuery(READING, ("value",), NOW, NOW + day, field_filters={"quality": text}),
        SeriesQuery(READING, ("value",), NOW, NOW + day, field_filters={text: "good"}),
        SeriesQuery(READING, (text,), NOW, NOW + day, every=day, agg=Aggregate.MEAN, tags={"site": text}),
    ]
    for query in queries:
        assert await sqlite_storage.query(query) == []
    assert await sqlite_storage.tag_values(READING, "site", {"device": text}) == []
    assert await sqlite_storage.tag_values(READING, text) == []
    grouped = SeriesQuery(READING, ("value",), NOW, NOW + day, group_by=(text,))
    tags = TAGS if (text,) == ALL_TAGS else {text: ""}  # ("*",) is ALL_TAGS, by design
    assert await sqlite_storage.query(grouped) == [Series(tags, [Row(NOW, {"value": 1.0})])]
    with pytest.raises(StorageRejected):
        await sqlite_storage.query(
            SeriesQuery(READING, ("value",), NOW, NOW + day, every=day, agg=Aggregate.MEAN, tz=text)
        )
    # The tables are intact and still hold exactly what was written.
    assert await stored_values(sqlite_storage) == [1.0]


@pytest.mark.parametrize(
    "options",
    [
        {"limit": -1},
        {"offset": -1},
        {"series_limit": -1},
        {"every": timedelta(0), "agg": Aggregate.MEAN},
        {"every": timedelta(days=1), "agg": Aggregate.MEAN, "tz": "Mars/Olympus_Mons"},
        {"every": timedelta(days=1), "agg": Aggregate.MEAN, "tz": "../../etc/passwd"},
        {"tags": {"site": 1}},
        {"field_filters": {"value": float("nan")}},
    ],
)
async def test_invalid_queries_are_rejected(sqlite_storage: SqliteStorage, options: dict[str, Any]) -> None:
    await sqlite_storage.write([reading(NOW, 1.0)])
    with pytest.raises(StorageRejected):
        await sqlite_storage.query(values_query(**options))
