"""One query suite, run on both backends: the API must answer identically on InfluxDB and on SQLite.

Query semantics: ranges, grouping, filters, limits, aggregates, time zones. The data and helpers are in
conformance.py; what is written (messages, types, overwrites, refusals) in test_conformance_writes.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import pytest

from backend.storage.model import (
    ALL_TAGS,
    Aggregate,
    Point,
    Series,
    SeriesQuery,
    Storage,
    StorageRejected,
)
from backend.storage.schema import (
    READING,
    READING_1H,
    time_ns,
)
from tests.backend.storage.conformance import (
    AMPAL,
    DAY,
    HOUR,
    HULU,
    MINUTE,
    RADAR,
    assert_result,
    at,
    level,
    rows,
    write_river,
)


async def test_raw_range_is_start_inclusive_end_exclusive(storage: Storage) -> None:
    await write_river(storage)
    result = await storage.query(
        level(start="06:00:30", end="06:02:00", fields=("value", "quality"), tags={"site": AMPAL})
    )
    assert_result(
        result,
        [
            Series(
                {},
                rows(
                    (at("06:00:30"), {"value": 2.5, "quality": "good"}),
                    (at("06:01:00"), {"value": 3.0, "quality": "suspect"}),
                    # The missing reading has no value: the row is there, its value None.
                    (at("06:01:30"), {"value": None, "quality": "missing"}),
                ),
            )
        ],
    )


async def test_raw_row_holds_every_field_type_and_none_for_unknown_fields(storage: Storage) -> None:
    await write_river(storage)
    result = await storage.query(
        level(
            start="06:01:00",
            end="06:01:01",
            fields=("value", "qc_flag", "unit", "reason", "seq", "gateway", "never_written"),
            tags={"site": AMPAL},
        )
    )
    expected = {
        "value": 3.0,
        "qc_flag": 3,
        "unit": "m",
        "reason": "spike",
        "seq": 102,
        "gateway": "gw-ampal-mufakat",
        "never_written": None,
    }
    assert_result(result, [Series({}, rows((at("06:01:00"), expected)))])


async def test_group_by_all_tags_gives_each_series_its_tags(storage: Storage) -> None:
    await write_river(storage)
    query = SeriesQuery(READING, ("value",), at("06:00:00"), at("06:01:00"), group_by=ALL_TAGS)
    expected = [
        Series(
            {"channel": "distance", "device": RADAR, "site": AMPAL},
            rows((at("06:00:00"), {"value": 4.0}), (at("06:00:30"), {"value": 3.5})),
        ),
        Series(
            {"channel": "level", "device": RADAR, "site": AMPAL},
            rows((at("06:00:00"), {"value": 2.0}), (at("06:00:30"), {"value": 2.5})),
        ),
        Series({"channel": "level", "device": RADAR, "site": HULU}, rows((at("06:00:00"), {"value": 5.0}))),
    ]
    assert_result(await storage.query(query), expected)


async def test_group_by_one_tag_merges_series_in_time_order(storage: Storage) -> None:
    await write_river(storage)
    result = await storage.query(level(start="06:00:30", end="06:02:00", group_by=("site",)))
    expected = [
        Series(
            {"site": AMPAL},
            rows(
                (at("06:00:30"), {"value": 2.5}),
                (at("06:01:00"), {"value": 3.0}),
                # 06:01:30 has no value: a raw row needs at least one queried field.
            ),
        ),
        Series({"site": HULU}, rows((at("06:01:00"), {"value": 7.0}))),
    ]
    assert_result(result, expected)


async def test_tag_filter_with_several_values(storage: Storage) -> None:
    await write_river(storage)
    query = level(
        start="06:00:00", end="06:00:01", tags={"site": (HULU, AMPAL, "nowhere")}, group_by=("site",)
    )
    expected = [
        Series({"site": AMPAL}, rows((at("06:00:00"), {"value": 2.0}))),
        Series({"site": HULU}, rows((at("06:00:00"), {"value": 5.0}))),
    ]
    assert_result(await storage.query(query), expected)


async def test_field_filter_keeps_good_and_suspect(storage: Storage) -> None:
    await write_river(storage)
    query = level(tags={"site": AMPAL}, field_filters={"quality": ("good", "suspect")})
    expected = rows(
        (at("06:00:00"), {"value": 2.0}),
        (at("06:00:30"), {"value": 2.5}),
        (at("06:01:00"), {"value": 3.0}),
        (at("06:02:00"), {"value": 1.5}),
        (at("07:10:00"), {"value": 4.0}),
    )
    assert_result(await storage.query(query), [Series({}, expected)])


async def test_field_filter_on_a_number_and_on_a_field_not_selected(storage: Storage) -> None:
    await write_river(storage)
    # qc_flag 1 = good: an int field compared with an int; `quality` is not among the queried fields.
    query = level(start="06:00:00", end="06:02:00", fields=("quality",), field_filters={"qc_flag": 3})
    assert_result(await storage.query(query), [Series({}, rows((at("06:01:00"), {"quality": "suspect"})))])


async def test_limit_and_offset_apply_per_series(storage: Storage) -> None:
    await write_river(storage)
    query = level(group_by=ALL_TAGS, limit=2, offset=1)
    expected = [
        Series(
            {"channel": "level", "device": RADAR, "site": AMPAL},
            rows((at("06:00:30"), {"value": 2.5}), (at("06:01:00"), {"value": 3.0})),
        ),
        Series({"channel": "level", "device": RADAR, "site": HULU}, rows((at("06:01:00"), {"value": 7.0}))),
    ]
    assert_result(await storage.query(query), expected)


async def test_descending_reverses_rows_with_limit_and_offset(storage: Storage) -> None:
    await write_river(storage)
    query = level(fields=("value", "quality"), group_by=("site",), descending=True, limit=2, offset=1)
    expected = [
        # Series stay in tag order; only rows reverse.
        Series(
            {"site": AMPAL},
            rows(
                (at("06:02:00"), {"value": 1.5, "quality": "good"}),
                (at("06:01:30"), {"value": None, "quality": "missing"}),
            ),
        ),
        Series({"site": HULU}, rows((at("06:00:00"), {"value": 5.0, "quality": "good"}))),
    ]
    assert_result(await storage.query(query), expected)


async def test_latest_value_per_series(storage: Storage) -> None:
    await write_river(storage)
    query = level(group_by=("site",), descending=True, limit=1)
    expected = [
        Series({"site": AMPAL}, rows((at("07:10:00"), {"value": 4.0}))),
        Series({"site": HULU}, rows((at("06:01:00"), {"value": 7.0}))),
    ]
    assert_result(await storage.query(query), expected)


@pytest.mark.parametrize("descending", [False, True])
async def test_series_limit_keeps_the_first_series_by_tags(storage: Storage, descending: bool) -> None:
    await write_river(storage)
    query = level(end="06:00:01", group_by=("site",), series_limit=1, descending=descending)
    assert_result(
        await storage.query(query), [Series({"site": AMPAL}, rows((at("06:00:00"), {"value": 2.0})))]
    )


# Aggregates -----------------------------------------------------------------------------------------

_PER_MINUTE: Final = {
    # buckets 06:00 (2.0, 2.5), 06:01 (3.0; the missing reading has no value), 06:02 (1.5), 07:10 (4.0)
    Aggregate.MEAN: [2.25, 3.0, 1.5, 4.0],
    Aggregate.SUM: [4.5, 3.0, 1.5, 4.0],
    Aggregate.MIN: [2.0, 3.0, 1.5, 4.0],
    Aggregate.MAX: [2.5, 3.0, 1.5, 4.0],
    Aggregate.FIRST: [2.0, 3.0, 1.5, 4.0],
    Aggregate.LAST: [2.5, 3.0, 1.5, 4.0],
    Aggregate.COUNT: [2, 1, 1, 1],
}
_PER_HOUR: Final = {
    # buckets 06:00 (2.0, 2.5, 3.0, 1.5), 07:00 (4.0)
    Aggregate.MEAN: [2.25, 4.0],
    Aggregate.SUM: [9.0, 4.0],
    Aggregate.MIN: [1.5, 4.0],
    Aggregate.MAX: [3.0, 4.0],
    Aggregate.FIRST: [2.0, 4.0],
    Aggregate.LAST: [1.5, 4.0],
    Aggregate.COUNT: [4, 1],
}


@pytest.mark.parametrize("agg", list(Aggregate))
async def test_each_aggregate_per_minute(storage: Storage, agg: Aggregate) -> None:
    await write_river(storage)
    buckets = [at("06:00:00"), at("06:01:00"), at("06:02:00"), at("07:10:00")]
    expected = rows(
        *((time, {"value": value}) for time, value in zip(buckets, _PER_MINUTE[agg], strict=True))
    )
    query = level(tags={"site": AMPAL}, every=MINUTE, agg=agg)
    assert_result(await storage.query(query), [Series({}, expected)])


@pytest.mark.parametrize("agg", list(Aggregate))
async def test_each_aggregate_per_hour(storage: Storage, agg: Aggregate) -> None:
    await write_river(storage)
    buckets = [at("06:00:00"), at("07:00:00")]
    expected = rows(*((time, {"value": value}) for time, value in zip(buckets, _PER_HOUR[agg], strict=True)))
    query = level(tags={"site": AMPAL}, every=HOUR, agg=agg)
    assert_result(await storage.query(query), [Series({}, expected)])


async def test_bucket_before_the_start_is_labelled_with_its_own_start(storage: Storage) -> None:
    await write_river(storage)
    query = level(start="06:00:30", end="06:02:00", tags={"site": AMPAL}, every=HOUR, agg=Aggregate.SUM)
    # Only 2.5 and 3.0 are in range; the bucket still starts at 06:00 (InfluxQL), before the query.
    assert_result(await storage.query(query), [Series({}, rows((at("06:00:00"), {"value": 5.5})))])


async def test_count_counts_non_null_values_per_field(storage: Storage) -> None:
    await write_river(storage)
    query = level(
        fields=("value", "quality", "never_written"), tags={"site": AMPAL}, every=HOUR, agg=Aggregate.COUNT
    )
    expected = rows(
        (at("06:00:00"), {"value": 4, "quality": 5, "never_written": None}),
        (at("07:00:00"), {"value": 1, "quality": 1, "never_written": None}),
    )
    assert_result(await storage.query(query), [Series({}, expected)])


async def test_first_and_last_of_text(storage: Storage) -> None:
    await write_river(storage)
    for agg, expected in ((Aggregate.FIRST, "good"), (Aggregate.LAST, "missing")):
        query = level(end="06:02:00", fields=("quality",), tags={"site": AMPAL}, every=HOUR, agg=agg)
        assert_result(await storage.query(query), [Series({}, rows((at("06:00:00"), {"quality": expected})))])


async def test_first_and_last_break_ties_between_series_by_the_larger_value(storage: Storage) -> None:
    # Two gauges read at the same instants, merged into one group: InfluxDB keeps the larger value.
    await storage.write(
        [
            Point("rain", {"site": site}, {"mm": mm}, time_ns(at(clock)))
            for site, clock, mm in (
                ("a", "06:00:00", 1.0),
                ("b", "06:00:00", 3.0),
                ("a", "06:30:00", 8.0),
                ("b", "06:30:00", 2.0),
            )
        ]
    )
    for agg, expected in ((Aggregate.FIRST, 3.0), (Aggregate.LAST, 8.0)):
        query = SeriesQuery("rain", ("mm",), at("06:00:00"), at("07:00:00"), every=HOUR, agg=agg)
        assert_result(await storage.query(query), [Series({}, rows((at("06:00:00"), {"mm": expected})))])


async def test_aggregate_group_by_tag_merges_series(storage: Storage) -> None:
    await write_river(storage)
    # Both sites have a device wl-radar-1: one group with 2.0 2.5 3.0 1.5 5.0 7.0 in the 06:00 hour.
    query = level(group_by=("device",), every=HOUR, agg=Aggregate.MEAN)
    expected = [
        Series({"device": RADAR}, rows((at("06:00:00"), {"value": 3.5}), (at("07:00:00"), {"value": 4.0})))
    ]
    assert_result(await storage.query(query), expected)


async def test_aggregate_with_field_filter_group_by_limit_and_descending(storage: Storage) -> None:
    await write_river(storage)
    query = level(
        group_by=("site",),
        field_filters={"quality": "good"},
        every=MINUTE,
        agg=Aggregate.MAX,
        descending=True,
        limit=2,
        offset=1,
    )
    expected = [
        # good values per minute: 06:00 (2.0, 2.5), 06:02 (1.5), 07:10 (4.0); 06:01 was suspect
        Series({"site": AMPAL}, rows((at("06:02:00"), {"value": 1.5}), (at("06:00:00"), {"value": 2.5}))),
        Series({"site": HULU}, rows((at("06:00:00"), {"value": 5.0}))),
    ]
    assert_result(await storage.query(query), expected)


async def test_aggregate_over_all_tags_with_series_limit(storage: Storage) -> None:
    await write_river(storage)
    query = SeriesQuery(
        READING,
        ("value",),
        at("06:00:00"),
        at("07:00:00"),
        group_by=ALL_TAGS,
        every=HOUR,
        agg=Aggregate.SUM,
        series_limit=2,
    )
    expected = [
        Series(
            {"channel": "distance", "device": RADAR, "site": AMPAL}, rows((at("06:00:00"), {"value": 15.0}))
        ),
        Series({"channel": "level", "device": RADAR, "site": AMPAL}, rows((at("06:00:00"), {"value": 9.0}))),
    ]
    assert_result(await storage.query(query), expected)


async def test_mean_of_text_is_rejected(storage: Storage) -> None:
    await write_river(storage)
    with pytest.raises(StorageRejected):
        await storage.query(level(fields=("quality",), every=HOUR, agg=Aggregate.MEAN))


# Time zones -----------------------------------------------------------------------------------------


async def test_days_in_wita_start_at_local_midnight(storage: Storage) -> None:
    # WITA is UTC+8: local midnight is 16:00 UTC the day before.
    values = {
        at("15:00:00"): 1.0,  # 23:00 local, DAY0
        at("15:59:59"): 2.0,  # 23:59:59 local, DAY0
        at("16:00:00"): 4.0,  # 00:00 local, DAY0 + 1
        at("08:00:00", 1): 8.0,  # 16:00 local, DAY0 + 1
        at("16:00:00", 1): 16.0,  # 00:00 local, DAY0 + 2
    }
    await storage.write(
        [Point("rain", {"site": AMPAL}, {"mm": mm}, time_ns(moment)) for moment, mm in values.items()]
    )
    local = SeriesQuery(
        "rain",
        ("mm",),
        at("00:00:00"),
        at("00:00:00", 2),
        every=DAY,
        agg=Aggregate.SUM,
        tz="Asia/Makassar",
    )
    expected_local = rows(
        (at("16:00:00", -1), {"mm": 3.0}),
        (at("16:00:00"), {"mm": 12.0}),
        (at("16:00:00", 1), {"mm": 16.0}),
    )
    assert_result(await storage.query(local), [Series({}, expected_local)])
    utc = SeriesQuery("rain", ("mm",), at("00:00:00"), at("00:00:00", 2), every=DAY, agg=Aggregate.SUM)
    expected_utc = rows((at("00:00:00"), {"mm": 7.0}), (at("00:00:00", 1), {"mm": 24.0}))
    assert_result(await storage.query(utc), [Series({}, expected_utc)])


async def test_days_stay_local_across_a_daylight_saving_change(storage: Storage) -> None:
    # Berlin springs forward on 2026-03-29 at 01:00 UTC: that local day lasts 23 hours. (A fixed date, so a
    # measurement kept forever: hourly rollups.)
    start = datetime(2026, 3, 28, 12, tzinfo=UTC)
    points = [
        Point(READING_1H, {"site": "berlin"}, {"mm": 0.5}, time_ns(start + n * timedelta(minutes=30)))
        for n in range(96)
    ]
    await storage.write(points)
    query = SeriesQuery(
        READING_1H, ("mm",), start, start + 2 * DAY, every=DAY, agg=Aggregate.COUNT, tz="Europe/Berlin"
    )
    expected = rows(
        (datetime(2026, 3, 27, 23, tzinfo=UTC), {"mm": 22}),  # 12:00..23:00 UTC
        (datetime(2026, 3, 28, 23, tzinfo=UTC), {"mm": 46}),  # 23 hours
        (datetime(2026, 3, 29, 22, tzinfo=UTC), {"mm": 28}),  # 22:00..12:00 UTC
    )
    assert_result(await storage.query(query), [Series({}, expected)])


# Other messages, tag values, writes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        SeriesQuery("no_such_measurement", ("value",), at("06:00:00"), at("08:00:00")),
        level(tags={"site": "nowhere"}),
        level(tags={"site": ()}),
        level(fields=("never_written",)),
        level(field_filters={"quality": "excellent"}),
        level(field_filters={"never_written": 1.0}),
        level(start="08:00:00", end="09:00:00"),
        level(start="07:00:00", end="06:00:00"),
        level(group_by=ALL_TAGS, every=HOUR, agg=Aggregate.MEAN, tags={"site": "nowhere"}),
    ],
    ids=[
        "measurement",
        "tag-value",
        "no-tag-value-allowed",
        "unknown-field",
        "field-value",
        "unknown-filter-field",
        "after-the-data",
        "end-before-start",
        "aggregate",
    ],
)
async def test_queries_that_match_nothing_answer_empty(storage: Storage, query: SeriesQuery) -> None:
    await write_river(storage)
    assert await storage.query(query) == []
