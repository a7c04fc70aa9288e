"""Data that arrives after the rollup window still reaches the rollups: a gateway replaying hours of outbox
after an outage. The regular passes recompute only their lookback (30 min of 1-minute buckets, 3 h of
hourly ones, a day of vehicle hours), so before, those hours were never rolled up and, once raw data
expired, gone from the long-term view. Real gateway publisher, Mosquitto, worker and SQLite storage."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import ALL_TAGS, Retention, SeriesQuery, Storage
from backend.storage.rollup import floor_time
from backend.storage.schema import READING_1H, READING_1M, VEHICLE_1H
from backend.storage.sqlite import SqliteStorage
from pantau.contract import Axle, Message, Reading, Readings, Vehicle
from tests.harness.backend import GATEWAY, SITE, GatewayFactory, backend_config, eventually, running
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port

HOUR: Final = timedelta(hours=1)
#: Three hours that ended eight to ten hours ago: far outside every regular pass's lookback.
FIRST_HOUR: Final = floor_time(datetime.now(UTC), HOUR) - 10 * HOUR
HOURS: Final = [FIRST_HOUR + n * HOUR for n in range(3)]


def backlog() -> list[Message]:
    seq = itertools.count(1)
    messages: list[Message] = [
        Readings(
            site=SITE,
            gateway=GATEWAY,
            seq=next(seq),
            ts=hour + timedelta(minutes=minute),
            device="wl-radar",
            channels={"level": Reading(value=1.0 + minute / 100, unit="m")},
        )
        for hour in HOURS
        for minute in (10, 20, 30)
    ]
    messages.append(
        Vehicle(
            site=SITE,
            gateway=GATEWAY,
            seq=next(seq),
            ts=HOURS[1] + timedelta(minutes=15),
            device="wim-1",
            source="wim",
            gvw_kg=14_000.0,
            axles=[Axle(load_kg=5_000.0), Axle(load_kg=9_000.0)],
        )
    )
    return messages


async def rows(storage: Storage, measurement: str, fields: tuple[str, ...]) -> list[datetime]:
    query = SeriesQuery(measurement, fields, HOURS[0], HOURS[-1] + HOUR, group_by=ALL_TAGS)
    return sorted(row.time for series in await storage.query(query) for row in series.rows)


async def test_hours_replayed_after_the_rollup_window_are_rolled_up(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    sqlite_storage: SqliteStorage,
    gateway: GatewayFactory,
) -> None:
    config = backend_config(
        mosquitto, mqtt_topic_root, tmp_path, rollups={"every": "200ms", "late_settle": "0s"}
    )
    async with running(config, sqlite_storage) as worker, gateway() as gw:
        await gw.send(backlog())

        async def rolled_up() -> bool:
            return await rows(sqlite_storage, READING_1H, ("count",)) == HOURS

        await eventually(rolled_up, what="the replayed hours in the hourly rollup")
        minutes = [hour + timedelta(minutes=m) for hour in HOURS for m in (10, 20, 30)]
        assert await rows(sqlite_storage, READING_1M, ("count",)) == minutes
        assert await rows(sqlite_storage, VEHICLE_1H, ("vehicles",)) == [HOURS[1]]
        # Each marked hour is recomputed once, then forgotten.
        await eventually(
            lambda: worker.spool.late_hours(10, marked_before=float("inf")) == [],
            what="the late hours forgotten",
        )


async def test_a_regular_pass_that_fails_marks_the_hours_of_its_window(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    # Storage gone (nothing listens on its port): when it is back, the window has moved on and the points
    # stored just before the outage would fall between the passes.
    config = backend_config(mosquitto, mqtt_topic_root, tmp_path, rollups={"every": "200ms"})
    storage = InfluxStorage(
        InfluxConfig(url=f"http://127.0.0.1:{free_port('127.0.0.1')}", retry_for="0s", timeout="1s"),
        Retention(),
    )
    async with running(config, storage) as worker:
        now = datetime.now(UTC)
        hourly_window = {int(h.timestamp()) for h in (floor_time(now - n * HOUR, HOUR) for n in (1, 2))}

        def marked() -> set[int]:
            return {mark.hour for mark in worker.spool.late_hours(100, marked_before=float("inf"))}

        await eventually(lambda: hourly_window <= marked(), what="the failed passes' hours marked")
    await storage.close()
