"""Property: whatever text the encoder accepts is stored and read back unchanged by a real influxd.

The alphabet includes everything that needs escaping (quotes, backslashes, commas, spaces, equals signs,
newlines), control characters and any Unicode but lone surrogates. Names the encoder refuses (a backslash
before `,`/`=`/space or at the end, a line break in a name) must be refused as StorageRejected naming that
point, never stored altered.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backend.storage.influx import InfluxStorage
from backend.storage.influx.line_protocol import InvalidPoint, encode_point
from backend.storage.model import ALL_TAGS, Point, SeriesQuery, StorageRejected
from backend.storage.schema import time_ns

SPECIAL = st.sampled_from(list("\"'\\,= \n\r\t=é水🌊\x00\x01"))
TEXT = st.text(st.one_of(SPECIAL, st.characters(exclude_categories=("Cs",))), min_size=1, max_size=12)
#: String field values: quotes, backslashes and line breaks are what their escaping is about.
VALUE = st.text(st.one_of(SPECIAL, st.characters(exclude_categories=("Cs",))), max_size=20)
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
_examples = itertools.count()


# The database (one per test) is shared by all examples on purpose; each example gets its own measurement.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(measurement=TEXT, tag_key=TEXT, tag_value=TEXT, field_key=TEXT, text=VALUE)
async def test_text_round_trips(
    influx_storage: InfluxStorage, measurement: str, tag_key: str, tag_value: str, field_key: str, text: str
) -> None:
    measurement = f"m{next(_examples)}_{measurement}"
    tag_key = tag_key if tag_key != "time" else "time_"
    field_key = field_key if field_key not in {"time", tag_key} else f"{field_key}_"
    point = Point(measurement, {tag_key: tag_value}, {field_key: text, "n": 1.5}, time_ns(NOW))
    try:
        encode_point(point)
    except InvalidPoint:
        event("refused by the encoder")
        with pytest.raises(StorageRejected) as refused:
            await influx_storage.write([point])
        assert refused.value.rejected == [point]
        return

    event("stored")
    await influx_storage.write([point])
    query = SeriesQuery(
        measurement,
        (field_key, "n"),
        NOW,
        NOW + timedelta(microseconds=1),
        tags={tag_key: tag_value},
        group_by=ALL_TAGS,
    )
    (series,) = await influx_storage.query(query)
    assert series.tags == {tag_key: tag_value}
    assert [row.values for row in series.rows] == [{field_key: text, "n": 1.5}]
    assert [row.time for row in series.rows] == [NOW]
    assert await influx_storage.tag_values(measurement, tag_key) == [tag_value]
    assert await influx_storage.tag_values(measurement, tag_key, {tag_key: tag_value}) == [tag_value]


# Names most examples above cannot store (refused by the encoder); here they always can, so every example
# writes and reads back a string value full of what needs escaping.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=VALUE)
async def test_string_field_values_round_trip(influx_storage: InfluxStorage, text: str) -> None:
    measurement = f"values{next(_examples)}"
    point = Point(measurement, {"site": "s"}, {"note": text, "n": 1.5}, time_ns(NOW))
    await influx_storage.write([point])
    query = SeriesQuery(measurement, ("note", "n"), NOW, NOW + timedelta(microseconds=1))
    (series,) = await influx_storage.query(query)
    assert [row.values for row in series.rows] == [{"note": text, "n": 1.5}]
