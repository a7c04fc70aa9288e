"""`/vehicles/stats` over history read from the hourly vehicle rollup answers exactly as the tally vehicle by
vehicle did, on SQLite and on InfluxDB; hours the rollup has not covered are still read vehicle by vehicle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final

import httpx
import pytest

from backend.api.app import create_app
from backend.api.params import rfc3339
from backend.api.vehicle_stats import rebuild_vehicle_rollup, roll_up_vehicles, rollup_watermark
from backend.storage.model import ALL_TAGS, SeriesQuery, Storage
from backend.storage.rollup import floor_time
from backend.storage.schema import VEHICLE_1H, to_points
from drivers.sim.traffic import TrafficGenerator
from pantau.contract import Vehicle
from tests.backend.api import dataset
from tests.backend.api.alert_book import EngineAlertBook
from tests.backend.api.conftest import KEYS, api_config, serve

#: uvicorn serves the API: not for the fast lane.
pytestmark = pytest.mark.services
#: Recent, not fixed: InfluxDB refuses points older than a retention policy keeps.
START: Final = datetime.combine(datetime.now(UTC).date() - timedelta(days=4), time(), UTC)
NOW: Final = START + timedelta(days=3, hours=5, minutes=20)
LOOKBACK: Final = timedelta(days=1)
HOUR: Final = timedelta(hours=1)
#: Every kind of question: hours and days in UTC and local zones, edges inside an hour,
#: tag filters (from the rollup) and field filters or thresholds (always vehicle by vehicle).
QUESTIONS: Final[list[dict[str, str]]] = [
    {"every": "1h"},
    {"every": "1d", "tz": "Asia/Makassar"},
    {"every": "1d", "tz": "Asia/Jayapura"},
    {"every": "1h", "lane": "2", "device": "wim-1"},
    {"every": "1d", "site": dataset.ROAD, "direction": "to-port"},
    {"every": "1h", "vehicle_class": "1-2.2"},
    {"every": "1d", "overloaded": "true"},
    {"every": "1d", "min_excess_kg": "2000"},
    {"every": "1h", "end": (START + timedelta(days=1, minutes=7)).isoformat()},  # a range long past
]


def trucks() -> list[Vehicle]:
    """Three days and a bit of trucks, one about every 41 minutes, on two lanes, some without tyre data."""
    traffic = TrafficGenerator(seed=23, overload_share=0.4)
    out = []
    for i in range(int((NOW - START) / timedelta(minutes=41)) + 5):
        message = traffic.truck(START + timedelta(minutes=41 * i, seconds=i % 60), lane=1 + i % 2).to_message(
            site=dataset.ROAD, device="wim-1", gateway="gw-sh-km13", seq=1 + i
        )
        if i % 3 == 2:
            message = message.model_copy(
                update={"axles": [axle.model_copy(update={"tyres": None}) for axle in message.axles]}
            )
        out.append(message)
    return out


@pytest.fixture
async def stats(storage: Storage) -> AsyncIterator[Any]:
    """GET /vehicles/stats of the API over `storage` holding `trucks()` judged by the real rules engine."""
    messages = trucks()
    site_inventory = dataset.inventory()
    engine, judged = dataset.judge(list(messages), site_inventory)
    await storage.write([point for m in messages for point in to_points(m)] + judged)
    book = EngineAlertBook(engine, storage, lambda: NOW)
    app = create_app(api_config(), storage, site_inventory, book, clock=lambda: NOW, instance="api-1")
    async with serve(app) as url:
        headers = {"Authorization": f"Bearer {KEYS['read']}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

            async def ask(question: dict[str, str]) -> Any:
                window = {"start": (START + timedelta(minutes=13)).isoformat(), "end": NOW.isoformat()}
                answer = await client.get("/api/v1/vehicles/stats", params=window | question)
                assert answer.status_code == 200, answer.text
                return answer.json()

            yield ask


async def test_stats_from_the_rollup_equal_the_vehicle_by_vehicle_tally(storage: Storage, stats: Any) -> None:
    tallied = [await stats(q) for q in QUESTIONS]  # no rollup yet: every vehicle read
    assert await rollup_watermark(storage, NOW) is None
    assert sum(b["vehicles"] for b in tallied[0]["buckets"]) > 100

    assert await roll_up_vehicles(storage, NOW, LOOKBACK) > 0
    assert await rollup_watermark(storage, NOW) == floor_time(NOW, HOUR)
    for question, expected in zip(QUESTIONS, tallied, strict=True):
        assert await stats(question) == expected, question


async def test_hours_before_the_watermark_are_read_from_the_rollup(storage: Storage, stats: Any) -> None:
    """A vehicle stored later than the lookback (an old backlog) is not in the rollup's hours, so the answer
    shows the rollup is what was read; `pantau backend rollup` (rebuild) folds it in. Fails on a tally of
    every vehicle, which counts it at once."""
    await roll_up_vehicles(storage, NOW, LOOKBACK)
    before = await stats({"every": "1h"})
    late_at = START + timedelta(hours=6, minutes=30)
    late = TrafficGenerator(seed=99).truck(late_at, lane=1)
    await storage.write(
        to_points(late.to_message(site=dataset.ROAD, device="wim-1", gateway="gw-sh-km13", seq=9999))
    )

    assert await roll_up_vehicles(storage, NOW, LOOKBACK) == 0  # within the hour a pass does nothing
    assert await roll_up_vehicles(storage, NOW + HOUR, LOOKBACK) > 0  # the next looks back a day, no further
    assert await stats({"every": "1h"}) == before

    assert await rebuild_vehicle_rollup(storage, START, NOW) > 0
    after = {b["time"]: b["vehicles"] for b in (await stats({"every": "1h"}))["buckets"]}
    counted = {b["time"]: b["vehicles"] for b in before["buckets"]}
    hour = rfc3339(floor_time(late_at, HOUR))
    assert after[hour] == counted.get(hour, 0) + 1
    assert {t: n for t, n in after.items() if t != hour} == {t: n for t, n in counted.items() if t != hour}


async def test_the_rollup_holds_one_point_per_hour_and_vehicle_series(storage: Storage, stats: Any) -> None:
    await roll_up_vehicles(storage, NOW, LOOKBACK)
    rows = [
        (row.time, tuple(sorted(series.tags.items())))
        for series in await storage.query(
            SeriesQuery(VEHICLE_1H, ("vehicles",), START, NOW, group_by=ALL_TAGS)
        )
        for row in series.rows
    ]
    assert len(rows) == len(set(rows))
    assert all(at == floor_time(at, HOUR) and at < floor_time(NOW, HOUR) for at, _tags in rows)
