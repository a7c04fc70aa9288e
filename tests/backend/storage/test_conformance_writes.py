"""Storage conformance, the writing side, on both backends: contract messages as stored, field types,
idempotent overwrites and refused points (shared data and helpers in conformance.py)."""

from __future__ import annotations

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
    VEHICLE,
    VEHICLE_VERDICT,
    time_ns,
    to_points,
    vehicle_verdict_point,
)
from pantau.contract import DeviceStatus, GatewayStatus, Vehicle
from pantau.contract.examples import example_messages
from tests.backend.storage.conformance import (
    AMPAL,
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
