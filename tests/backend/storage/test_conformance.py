"""One query suite, run on both backends: the API must answer identically on InfluxDB and on SQLite.

Data goes in through `write()` (contract messages through `schema.to_points`, plus hand-made points);
every expectation is computed by hand here, with values exact in binary so sums and means are exact.
The InfluxQL semantics are in backend/storage/model.py; influxd 1.6 is the reference.

Data of `_river` (on DAY0, UTC), channel `level` unless said otherwise::

    ampal-mufakat / wl-radar-1        06:00:00  2.0 good      (distance 4.0)
                                      06:00:30  2.5 good      (distance 3.5)
                                      06:01:00  3.0 suspect   (distance 3.0)
                                      06:01:30  missing       (distance missing)
                                      06:02:00  1.5 good      (distance 4.5)
                                      07:10:00  4.0 good
    sungai-ampal-hulu / wl-radar-1    06:00:00  5.0 good
                                      06:01:00  7.0 good
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest

from backend.storage.model import (
    ALL_TAGS,
    Aggregate,
    FieldValue,
    Point,
    Row,
    Series,
    SeriesQuery,
    Storage,
    StorageRejected,
)
from backend.storage.schema import (
    READING,
    READING_1H,
    VEHICLE,
    VEHICLE_VERDICT,
    time_ns,
    to_points,
    vehicle_verdict_point,
)
from pantau.contract import DeviceStatus, GatewayStatus, Readings, Vehicle
from pantau.contract.examples import example_messages
from pantau.contract.messages import Quality, Reading, Reason

AMPAL: Final = "ampal-mufakat"
HULU: Final = "sungai-ampal-hulu"
RADAR: Final = "wl-radar-1"
MINUTE: Final = timedelta(minutes=1)
HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)
#: The day the data is on. Recent, not fixed: InfluxDB refuses points older than the raw retention policy
#: (90 days), so a fixed date would fail some day. All expectations are relative to it.
DAY0: Final = datetime.now(UTC).date() - timedelta(days=3)


def at(clock: str, day: int = 0) -> datetime:
    """A UTC time on DAY0 (+ `day` days), e.g. at("06:00:30")."""
    return datetime.fromisoformat(f"{DAY0 + timedelta(days=day)}T{clock}+00:00")


def poll(site: str, device: str, ts: datetime, seq: int, **channels: Reading) -> Readings:
    return Readings(site=site, device=device, gateway=f"gw-{site}", seq=seq, ts=ts, channels=channels)


def good(value: float) -> Reading:
    return Reading(value=value, unit="m")


def _river() -> list[Readings]:
    ampal = [
        ("06:00:00", good(2.0), good(4.0)),
        ("06:00:30", good(2.5), good(3.5)),
        ("06:01:00", Reading(value=3.0, unit="m", quality=Quality.SUSPECT, reason=Reason.SPIKE), good(3.0)),
        ("06:01:30", Reading.missing(Reason.TIMEOUT, unit="m"), Reading.missing(Reason.TIMEOUT, unit="m")),
        ("06:02:00", good(1.5), good(4.5)),
    ]
    messages = [
        poll(AMPAL, RADAR, at(clock), seq, level=level, distance=distance)
        for seq, (clock, level, distance) in enumerate(ampal, start=100)
    ]
    messages.append(poll(AMPAL, RADAR, at("07:10:00"), 200, level=good(4.0)))
    messages.append(poll(HULU, RADAR, at("06:00:00"), 7, level=good(5.0)))
    messages.append(poll(HULU, RADAR, at("06:01:00"), 8, level=good(7.0)))
    return messages


async def write_river(storage: Storage) -> None:
    await storage.write([point for message in _river() for point in to_points(message)])


def level(
    *,
    start: str = "06:00:00",
    end: str = "08:00:00",
    fields: tuple[str, ...] = ("value",),
    **options: Any,
) -> SeriesQuery:
    """A query on `reading` for the `level` channel (more tag filters may be added)."""
    tags = {"channel": "level"} | options.pop("tags", {})
    return SeriesQuery(READING, fields, at(start), at(end), tags=tags, **options)


def rows(*items: tuple[datetime, dict[str, FieldValue | None]]) -> list[Row]:
    return [Row(time, values) for time, values in items]


def view(result: Sequence[Series]) -> list[Any]:
    """Series as plain data with the type of every value, so 2 and 2.0 or 1 and True do not compare equal."""
    return [
        (
            dict(series.tags),
            [
                (row.time, {name: (type(value).__name__, value) for name, value in row.values.items()})
                for row in series.rows
            ],
        )
        for series in result
    ]


def assert_result(result: Sequence[Series], expected: Sequence[Series]) -> None:
    assert view(result) == view(expected)


# Raw rows -------------------------------------------------------------------------------------------


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


async def test_vehicles_group_by_all_tags_with_absent_tags_as_empty(storage: Storage) -> None:
    wim = example_messages()["vehicle"]
    assert isinstance(wim, Vehicle)
    wim = wim.model_copy(update={"ts": at("06:04:17.250000")})
    weighbridge = Vehicle(
        site=wim.site,
        device="wb-1",
        gateway=wim.gateway,
        seq=912,
        ts=wim.ts + MINUTE,
        source="weighbridge",
        gvw_kg=18_500,
    )
    await storage.write(to_points(wim) + to_points(weighbridge))
    query = SeriesQuery(
        VEHICLE, ("gvw_kg", "axle_count", "speed_kmh"), at("06:00:00"), at("07:00:00"), group_by=ALL_TAGS
    )
    common = {"site": "soekarno-hatta-km13"}
    expected = [
        Series(
            common
            | {"device": "wb-1", "direction": "", "lane": "", "source": "weighbridge", "vehicle_class": ""}
            | {"axle_configuration": ""},
            rows((at("06:05:17.250000"), {"gvw_kg": 18500.0, "axle_count": 0, "speed_kmh": None})),
        ),
        Series(
            common
            | {
                "axle_configuration": "1-2.2",
                "device": "wim-1",
                "direction": "to-port",
                "lane": "1",
                "source": "wim",
                "vehicle_class": "6B",
            },
            rows((at("06:04:17.250000"), {"gvw_kg": 31640.0, "axle_count": 3, "speed_kmh": 42.5})),
        ),
    ]
    assert_result(await storage.query(query), expected)


async def test_a_vehicle_judged_again_keeps_one_verdict_and_lanes_stay_apart(storage: Storage) -> None:
    wim = example_messages()["vehicle"]
    assert isinstance(wim, Vehicle)
    lane1 = wim.model_copy(update={"ts": at("06:04:17.250000"), "lane": 1})
    lane2 = lane1.model_copy(update={"lane": 2, "seq": lane1.seq + 1, "gvw_kg": 20_000})
    judged = {"configuration": "1-2.2", "excess_kg": None, "esal": None}
    await storage.write(
        [
            vehicle_verdict_point(lane1, verdict="violation", **judged),
            vehicle_verdict_point(lane2, verdict="ok", **judged),
            # lane 1 judged again (a replay under edited rules): overwritten, not counted twice
            vehicle_verdict_point(lane1, verdict="tolerated", **judged),
        ]
    )
    query = SeriesQuery(
        VEHICLE_VERDICT, ("verdict", "gvw_kg"), at("06:00:00"), at("07:00:00"), group_by=("lane",)
    )
    stamp = at("06:04:17.250000")
    expected = [
        Series({"lane": "1"}, rows((stamp, {"verdict": "tolerated", "gvw_kg": 31640.0}))),
        Series({"lane": "2"}, rows((stamp, {"verdict": "ok", "gvw_kg": 20000.0}))),
    ]
    assert_result(await storage.query(query), expected)


async def test_gateway_and_device_status(storage: Storage) -> None:
    messages = example_messages()
    gateway, device = messages["gateway_status"], messages["device_status"]
    assert isinstance(gateway, GatewayStatus)
    assert isinstance(device, DeviceStatus)
    gateway = gateway.model_copy(update={"ts": at("06:00:00")})
    device = device.model_copy(update={"ts": at("06:00:00")})
    offline = gateway.model_copy(update={"ts": gateway.ts + MINUTE, "state": "offline", "seq": 48201})
    await storage.write(to_points(gateway) + to_points(offline) + to_points(device))
    status = await storage.query(
        SeriesQuery("gateway_status", ("state", "online", "outbox_depth"), at("06:00:00"), at("06:05:00"))
    )
    expected = rows(
        (at("06:00:00"), {"state": "online", "online": 1, "outbox_depth": 12}),
        (at("06:01:00"), {"state": "offline", "online": 0, "outbox_depth": 12}),
    )
    assert_result(status, [Series({}, expected)])
    health = await storage.query(
        SeriesQuery(
            "device_status",
            ("state_code",),
            at("06:00:00"),
            at("07:00:00"),
            group_by=("device",),
            every=HOUR,
            agg=Aggregate.MAX,
        )
    )
    assert_result(health, [Series({"device": "rain-1"}, rows((at("06:00:00"), {"state_code": 2})))])


async def test_booleans_stay_booleans(storage: Storage) -> None:
    await storage.write(
        [
            Point("alert", {"site": AMPAL}, {"acknowledged": False, "severity": 2}, time_ns(at("06:00:00"))),
            Point("alert", {"site": AMPAL}, {"acknowledged": True, "severity": 3}, time_ns(at("06:30:00"))),
        ]
    )
    raw = await storage.query(
        SeriesQuery("alert", ("acknowledged", "severity"), at("06:00:00"), at("07:00:00"))
    )
    expected_raw = rows(
        (at("06:00:00"), {"acknowledged": False, "severity": 2}),
        (at("06:30:00"), {"acknowledged": True, "severity": 3}),
    )
    assert_result(raw, [Series({}, expected_raw)])
    for agg, value in (
        (Aggregate.FIRST, False),
        (Aggregate.LAST, True),
        (Aggregate.MAX, True),
        (Aggregate.COUNT, 2),
    ):
        query = SeriesQuery("alert", ("acknowledged",), at("06:00:00"), at("07:00:00"), every=HOUR, agg=agg)
        assert_result(
            await storage.query(query), [Series({}, rows((at("06:00:00"), {"acknowledged": value})))]
        )


async def test_tag_values(storage: Storage) -> None:
    await write_river(storage)
    assert await storage.tag_values(READING, "site") == [AMPAL, HULU]
    assert await storage.tag_values(READING, "channel", {"site": HULU}) == ["level"]
    assert await storage.tag_values(READING, "channel", {"site": (HULU, AMPAL)}) == ["distance", "level"]
    assert await storage.tag_values(READING, "lane") == []
    assert await storage.tag_values("no_such_measurement", "site") == []


async def test_writing_the_same_point_twice_stores_it_once(storage: Storage) -> None:
    await write_river(storage)
    await write_river(storage)  # a replay after a lost acknowledgement
    query = level(end="06:01:00", tags={"site": AMPAL}, every=HOUR, agg=Aggregate.COUNT)
    assert_result(await storage.query(query), [Series({}, rows((at("06:00:00"), {"value": 2})))])


async def test_a_point_again_overwrites_field_by_field(storage: Storage) -> None:
    await write_river(storage)
    tags = {"site": AMPAL, "device": RADAR, "channel": "level"}
    await storage.write([Point(READING, tags, {"value": 2.75, "note": "corrected"}, time_ns(at("06:00:30")))])
    query = level(start="06:00:30", end="06:00:31", fields=("value", "quality", "note"), tags={"site": AMPAL})
    expected = {"value": 2.75, "quality": "good", "note": "corrected"}
    assert_result(await storage.query(query), [Series({}, rows((at("06:00:30"), expected)))])


async def test_refused_points_are_reported_and_the_others_stored(storage: Storage) -> None:
    tags = {"site": AMPAL}
    ok = Point("rain", tags, {"mm": 1.0}, time_ns(at("06:00:00")))
    not_finite = Point("rain", tags, {"mm": float("nan")}, time_ns(at("06:01:00")))
    conflict = Point("rain", tags, {"mm": 2}, time_ns(at("06:02:00")))  # int where a float is stored
    await storage.write([ok])
    with pytest.raises(StorageRejected) as refused:
        await storage.write([not_finite, Point("rain", tags, {"mm": 0.5}, time_ns(at("06:03:00"))), conflict])
    assert refused.value.rejected == [not_finite, conflict]
    result = await storage.query(SeriesQuery("rain", ("mm",), at("06:00:00"), at("07:00:00")))
    assert_result(result, [Series({}, rows((at("06:00:00"), {"mm": 1.0}), (at("06:03:00"), {"mm": 0.5})))])


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
