"""Query injection: hostile tag values, field and tag names, measurements and time zones either are
refused before reaching the server or match exactly the literal text, and the database survives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.storage.influx import InfluxStorage
from backend.storage.model import ALL_TAGS, Aggregate, Point, SeriesQuery, StorageRejected
from backend.storage.schema import time_ns
from tests.harness.influxd import Influxd

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
HOSTILE = [
    "x' OR 1=1",
    "x' OR '1'='1",
    '\'; DROP DATABASE "x"; --',
    '"; DROP DATABASE "x',
    "x\\' OR 1=1",
    "a\\b",
    "\\\\",
    "a\nb",
    'x\'; DROP MEASUREMENT "m"',
    "x') OR time > 0 GROUP BY *; SHOW DATABASES --",
]


def storable(text: str) -> bool:
    """Line protocol cannot carry a newline or a trailing backslash in a tag (see line_protocol.py)."""
    return "\n" not in text and not text.endswith("\\")


def _databases(influxd: Influxd) -> set[str]:
    body = influxd.query("SHOW DATABASES")
    return {row[0] for row in body["results"][0]["series"][0]["values"]}


@pytest.fixture
async def stored(influx_storage: InfluxStorage) -> InfluxStorage:
    points = [Point("m", {"site": "x"}, {"value": 1.0, "note": "x"}, time_ns(NOW))]
    # Hostile text as stored values too: a filter must find exactly its own row.
    for index, text in enumerate(HOSTILE):
        if storable(text):
            points.append(
                Point("m", {"site": text}, {"value": float(index + 10), "note": text}, time_ns(NOW))
            )
    await influx_storage.write(points)
    return influx_storage


def query(**changes: object) -> SeriesQuery:
    base: dict[str, object] = {
        "measurement": "m",
        "fields": ("value",),
        "start": NOW,
        "end": NOW + timedelta(seconds=1),
    }
    return SeriesQuery(**(base | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", HOSTILE)
async def test_tag_filter_matches_only_the_literal(
    stored: InfluxStorage, influxd: Influxd, influx_db: str, text: str
) -> None:
    result = await stored.query(query(tags={"site": text}, group_by=ALL_TAGS))
    expected = [text] if storable(text) else []
    assert [series.tags["site"] for series in result] == expected
    assert [len(series.rows) for series in result] == [1] * len(expected)
    assert await stored.tag_values("m", "site", {"site": text}) == expected
    assert influx_db in _databases(influxd)


@pytest.mark.parametrize("text", HOSTILE)
async def test_string_field_filter_matches_only_the_literal(stored: InfluxStorage, text: str) -> None:
    result = await stored.query(query(fields=("note",), field_filters={"note": text}))
    expected = [text] if storable(text) else []
    assert [row.values["note"] for series in result for row in series.rows] == expected


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_names_are_only_names(
    stored: InfluxStorage, influxd: Influxd, influx_db: str, text: str
) -> None:
    assert await stored.query(query(fields=(text,))) == []
    assert await stored.query(query(measurement=text)) == []
    assert await stored.query(query(group_by=(text,), every=timedelta(seconds=1), agg=Aggregate.MAX)) != []
    assert await stored.tag_values("m", text) == []
    assert await stored.tag_values(text, "site") == []
    assert influx_db in _databases(influxd)
    # The stored data is untouched.
    (series,) = await stored.query(query(tags={"site": "x"}))
    assert [row.values for row in series.rows] == [{"value": 1.0}]


@pytest.mark.parametrize("tz", ["Asia/Makassar')", 'UTC\') ; DROP DATABASE "x"', "x\ny", "../../etc/passwd"])
async def test_hostile_time_zone_refused_before_the_server(stored: InfluxStorage, tz: str) -> None:
    with pytest.raises(StorageRejected, match="time zone"):
        await stored.query(query(every=timedelta(minutes=1), agg=Aggregate.MEAN, tz=tz))


async def test_nul_refused_before_the_server(stored: InfluxStorage) -> None:
    with pytest.raises(StorageRejected, match="NUL"):
        await stored.query(query(tags={"site": "x\x00' OR 1=1"}))
    with pytest.raises(StorageRejected, match="NUL"):
        await stored.tag_values("m", "site\x00")
