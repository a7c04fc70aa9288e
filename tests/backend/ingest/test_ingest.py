"""End to end with a real Mosquitto, a real influxd and SQLite: gateway -> MQTT -> backend -> storage."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

from backend.ingest.spool import Spool
from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import ALL_TAGS, Aggregate, Retention, SeriesQuery, Storage
from backend.storage.sqlite import SqliteStorage
from drivers.sim.traffic import TrafficGenerator
from pantau.contract import DeviceStatus, Message, encode
from tests.backend.ingest.corpus import malformed_corpus
from tests.harness.backend import (
    GATEWAY,
    SITE,
    T0,
    GatewayFactory,
    backend_config,
    eventually,
    opened,
    readings,
    running,
    topic_for,
)
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto

EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC))


def influx(influxd: Influxd, database: str) -> InfluxStorage:
    return InfluxStorage(InfluxConfig(url=influxd.url, database=database, retry_for=5), Retention())


async def stored(storage: Storage, measurement: str = "reading", field: str = "seq") -> int:
    """Points of `measurement` in storage (every series, every time)."""
    query = SeriesQuery(measurement, (field,), *EVERYTHING, group_by=ALL_TAGS)
    return sum(len(series.rows) for series in await storage.query(query))


def vehicles(count: int) -> list[Message]:
    traffic = TrafficGenerator(seed=7)
    records = [traffic.truck(T0 + timedelta(seconds=37 * i)) for i in range(count)]
    return [
        r.to_message(site="soekarno-hatta-km13", device="wim-1", gateway="gw-sh-km13", seq=1000 + i)
        for i, r in enumerate(records)
    ]


async def test_gateway_traffic_lands_in_influxdb_and_sqlite_with_identical_query_results(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influxd: Influxd,
    influx_db: str,
    gateway: GatewayFactory,
) -> None:
    on_influx, on_sqlite = influx(influxd, influx_db), SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
    messages: list[Message] = [readings(i, device=d) for i in range(40) for d in ("wl-radar-1", "wl-radar-2")]
    messages += vehicles(12)
    messages.append(
        DeviceStatus(
            site=SITE,
            gateway=GATEWAY,
            seq=99,
            ts=T0,
            device="rain-1",
            state="failing",
            since=T0,
            consecutive_failures=3,
            reason="timeout",
        )
    )
    config_a = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="influx-worker")
    config_b = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="sqlite-worker")
    async with (
        opened(on_influx),
        opened(on_sqlite),
        running(config_a, on_influx),
        running(config_b, on_sqlite),
        gateway() as gw,
    ):
        await gw.send(messages)
        for storage in (on_influx, on_sqlite):
            await eventually(lambda s=storage: _count_is(s, "reading", 240), what="readings stored")
            await eventually(lambda s=storage: _count_is(s, "vehicle", 12), what="vehicles stored")
            await eventually(lambda s=storage: _count_is(s, "device_status", 1), what="device status stored")
        queries = [
            SeriesQuery("reading", ("value", "quality", "unit", "seq"), *EVERYTHING, group_by=ALL_TAGS),
            SeriesQuery(
                "reading",
                ("value",),
                *EVERYTHING,
                tags={"channel": "level"},
                group_by=("device",),
                every=timedelta(minutes=1),
                agg=Aggregate.MEAN,
            ),
            SeriesQuery(
                "reading",
                ("value",),
                *EVERYTHING,
                group_by=("channel",),
                every=timedelta(hours=1),
                agg=Aggregate.COUNT,
                tz="Asia/Makassar",
            ),
            SeriesQuery(
                "reading", ("reason",), *EVERYTHING, field_filters={"quality": "missing"}, group_by=ALL_TAGS
            ),
            SeriesQuery(
                "vehicle", ("gvw_kg", "axles", "speed_kmh", "record_id"), *EVERYTHING, group_by=ALL_TAGS
            ),
            SeriesQuery(
                "vehicle",
                ("gvw_kg",),
                *EVERYTHING,
                group_by=("axle_configuration",),
                every=timedelta(hours=1),
                agg=Aggregate.MAX,
            ),
            SeriesQuery("device_status", ("state", "state_code", "reason"), *EVERYTHING, group_by=ALL_TAGS),
        ]
        for query in queries:
            from_influx, from_sqlite = await on_influx.query(query), await on_sqlite.query(query)
            assert from_influx == from_sqlite, query
            assert from_influx, query
        levels = await on_sqlite.query(
            SeriesQuery("reading", ("value",), *EVERYTHING, tags={"device": "wl-radar-1", "channel": "level"})
        )
        assert [row.values["value"] for row in levels[0].rows] == [1.0 + i / 1000 for i in range(40)]
        assert [row.time for row in levels[0].rows] == [T0 + timedelta(seconds=10 * i) for i in range(40)]


async def _count_is(storage: Storage, measurement: str, expected: int) -> bool:
    count = await stored(storage, measurement)
    assert count <= expected, f"{count} {measurement} points stored, only {expected} sent"
    return count == expected


async def test_malformed_payloads_are_dead_lettered_and_valid_traffic_around_them_is_stored(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
) -> None:
    corpus = malformed_corpus()
    config = backend_config(mosquitto, mqtt_topic_root, tmp_path)
    storage = SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
    valid = [readings(i) for i in range(3 * len(corpus))]
    async with (
        opened(storage),
        running(config, storage) as worker,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
    ):
        topics = worker.subscriber.topics
        good = iter(valid)
        for case in corpus:  # valid, bad, valid, valid, bad, ...
            for message in itertools.islice(good, 3):
                await client.publish(topic_for(topics, message), encode(message), qos=1)
            await client.publish(f"{mqtt_topic_root}/{case.topic}", case.payload, qos=1)
        await client.publish(topics.gateway_status(SITE), b"", qos=1)  # a retained-topic clear: ignored
        await eventually(lambda: _count_is(storage, "reading", 3 * len(valid)), what="valid readings stored")
        sent = len(valid) + len(corpus) + 1
        await eventually(lambda: worker.subscriber.stats.acked_total >= sent, what="every message handled")
        assert sum(worker.pipeline.stats.dead.values()) == len(corpus)
        assert worker.pipeline.stats.ignored_total == 1
        spool = worker.spool
        letters = {(e.topic, e.reason) for e in spool.deadletters(limit=1000)}
        assert letters == {(f"{mqtt_topic_root}/{c.topic}", c.reason) for c in corpus}
        oversize = next(e for e in spool.deadletters(limit=1000, reason="oversize"))
        assert oversize.size == 262145
        assert len(oversize.payload) == config.deadletter.max_payload_bytes  # kept, bounded


async def test_two_workers_on_a_shared_subscription_split_the_stream_without_loss_or_doubling(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influxd: Influxd,
    influx_db: str,
    gateway: GatewayFactory,
) -> None:
    shared = {"shared_group": "ingest"}
    config_a = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="worker-a", mqtt=shared)
    config_b = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="worker-b", mqtt=shared)
    count = 1500
    async with (
        opened(influx(influxd, influx_db)) as reader,
        opened(influx(influxd, influx_db)) as storage_a,
        opened(influx(influxd, influx_db)) as storage_b,
        running(config_a, storage_a) as a,
        running(config_b, storage_b) as b,
        gateway() as gw,
    ):
        await gw.send([readings(i) for i in range(count)])
        await eventually(
            lambda: _count_is(reader, "reading", 3 * count), what="all readings stored", timeout=60
        )
        received = a.pipeline.stats.accepted["readings"], b.pipeline.stats.accepted["readings"]
        assert sum(received) == count  # each message went to exactly one worker
        assert min(received) > count // 10, received  # and both did real work


async def test_a_restarted_worker_gets_nothing_redelivered_every_puback_reached_the_broker(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influxd: Influxd,
    influx_db: str,
    gateway: GatewayFactory,
) -> None:
    """A batch's PUBACKs leave in one write: the broker must have taken each of them, or it would send
    those messages again to the same client id after a restart (before anything newer)."""
    # A client id of its own: its persistent session (and the gateway's last status queued in it after
    # the test) must not reach the next test's worker.
    config = backend_config(mosquitto, mqtt_topic_root, tmp_path, worker_id="restart-test")
    count = 1200
    async with opened(influx(influxd, influx_db)) as reader, gateway() as gw:
        async with opened(influx(influxd, influx_db)) as storage, running(config, storage) as first:
            await gw.send([readings(i) for i in range(count)])
            stats = first.subscriber.stats
            await eventually(lambda: first.pipeline.stats.accepted["readings"] == count, what="all accepted")
            await eventually(lambda: stats.acked_total == stats.received_total, what="all acknowledged")
            await eventually(lambda: _count_is(reader, "reading", 3 * count), what="all stored", timeout=60)
        # One more while the worker is away: the broker queues it in the worker's session, behind anything
        # it would redeliver; its arrival also shows that the restarted worker resumed that session.
        await gw.send([readings(count)])
        await gw.drained()
        async with opened(influx(influxd, influx_db)) as storage, running(config, storage) as second:
            await eventually(
                lambda: _count_is(reader, "reading", 3 * (count + 1)), what="the queued message stored"
            )
            # (The retained gateway status is sent again on subscribing; it is not a reading.)
            assert second.pipeline.stats.accepted["readings"] == 1


def test_spool_is_where_the_config_says(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = backend_config(mosquitto, "x", tmp_path)
    assert config.spool_path.parent == tmp_path
    Spool(config.spool_path).close()
    assert config.spool_path.exists()
