"""Writer faults: retries, Retry-After, 413 splits, 400 bisection, gzip, limits, giving up in time.

Statuses a real influxd cannot produce on demand come from `RecordingServer` (a named fake at the HTTP seam);
type conflicts and a dead server are shown with the real influxd.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.influx.line_protocol import encode_point
from backend.storage.model import Point, Retention, SeriesQuery, StorageRejected, StorageUnavailable
from backend.storage.schema import time_ns
from tests.harness.influxd import Influxd
from tests.harness.recording_http import RecordingServer, Reply, Request

pytestmark = pytest.mark.services  # RecordingServer or influxd

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def points(count: int, measurement: str = "reading", **fields: float | str) -> list[Point]:
    return [
        Point(measurement, {"site": "s"}, {"value": float(index)} | fields, time_ns(NOW) + index * 1000)
        for index in range(count)
    ]


def lines(batch: list[Point]) -> list[str]:
    return [encode_point(point) for point in batch]


def storage_for(url: str, **settings: object) -> InfluxStorage:
    config = InfluxConfig.model_validate({"url": url, "database": "db", "retry_for": 2} | settings)
    return InfluxStorage(config, Retention())


def scripted(*statuses: int | Reply) -> Iterator[Reply]:
    for status in statuses:
        yield status if isinstance(status, Reply) else Reply(status)
    while True:
        yield Reply(204)


async def test_retries_5xx_then_succeeds() -> None:
    replies = scripted(503, 500, 502)
    async with RecordingServer(lambda _: next(replies)) as fake:
        storage = storage_for(fake.url, gzip=False)
        await storage.write(points(3))
        await storage.close()
    assert len(fake.requests) == 4
    assert {request.body for request in fake.requests} == {"\n".join(lines(points(3))).encode()}
    assert fake.requests[0].params == {"db": "db", "rp": "pantau_raw", "precision": "ns"}


async def test_429_retry_after_is_honoured() -> None:
    replies = scripted(Reply(429, {"Retry-After": "0.4"}, b'{"error":"slow down"}'))
    async with RecordingServer(lambda _: next(replies)) as fake:
        storage = storage_for(fake.url)
        await storage.write(points(1))
        await storage.close()
    first, second = fake.requests
    # Our own first back-off is at most 0.1 s: a gap this long is the server's Retry-After.
    assert second.at - first.at >= 0.35


async def test_slow_answer_times_out_and_is_retried() -> None:
    replies = scripted(Reply(204, delay=1.0))
    async with RecordingServer(lambda _: next(replies)) as fake:
        storage = storage_for(fake.url, timeout="200ms")
        await storage.write(points(2))
        await storage.close()
    assert len(fake.requests) == 2
    assert fake.requests[0].body == fake.requests[1].body


async def test_gives_up_after_retry_for() -> None:
    async with RecordingServer(lambda _: Reply(503, body=b'{"error":"overloaded"}')) as fake:
        storage = storage_for(fake.url, retry_for="500ms")
        with pytest.raises(StorageUnavailable, match="overloaded"):
            await storage.write(points(1))
        await storage.close()
    assert len(fake.requests) >= 2


async def test_413_halves_until_every_point_fits_exactly_once() -> None:
    stored: list[str] = []

    def reply(request: Request) -> Reply:
        if len(request.lines) > 2:
            return Reply(413, body=b'{"error":"Request Entity Too Large"}')
        stored.extend(request.lines)
        return Reply(204)

    batch = points(11)
    async with RecordingServer(reply) as fake:
        storage = storage_for(fake.url)
        await storage.write(batch)
        await storage.close()
    assert sorted(stored) == sorted(lines(batch))
    assert len(stored) == len(set(stored))


async def test_400_bisects_to_the_refused_points() -> None:
    stored: list[str] = []

    def reply(request: Request) -> Reply:
        if any("bad" in line for line in request.lines):
            return Reply(400, body=json.dumps({"error": "partial write: field type conflict"}).encode())
        stored.extend(request.lines)
        return Reply(204)

    good = points(9)
    bad = [
        Point("reading", {"site": "bad"}, {"value": 1.0}, time_ns(NOW) + 1),
        Point("reading", {"site": "bad2"}, {"value": 1.0}, time_ns(NOW) + 2),
    ]
    batch = [*good[:3], bad[0], *good[3:7], bad[1], *good[7:]]
    async with RecordingServer(reply) as fake:
        storage = storage_for(fake.url)
        with pytest.raises(StorageRejected, match="field type conflict") as caught:
            await storage.write(batch)
        await storage.close()
    assert caught.value.rejected == bad
    assert sorted(stored) == sorted(lines(good))


async def test_gzip_body_and_request_limits() -> None:
    async with RecordingServer(lambda _: Reply(204)) as fake:
        storage = storage_for(fake.url, max_points_per_request=2)
        await storage.write(points(5))
        await storage.close()
    assert [request.headers["content-encoding"] for request in fake.requests] == ["gzip"] * 3
    assert [request.lines for request in fake.requests] == [
        lines(points(5))[0:2],
        lines(points(5))[2:4],
        lines(points(5))[4:],
    ]


async def test_body_size_limit() -> None:
    batch = points(5, note="x" * 400)
    async with RecordingServer(lambda _: Reply(204)) as fake:
        storage = storage_for(fake.url, max_body_bytes=1024, gzip=False)
        await storage.write(batch)
        await storage.close()
    assert all(len(request.body) <= 1024 for request in fake.requests)
    assert [line for request in fake.requests for line in request.lines] == lines(batch)
    assert len(fake.requests) == 3


async def test_refused_credentials_keep_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_TEST_TOKEN", "s3cret")
    async with RecordingServer(lambda _: Reply(401, body=b'{"error":"authorization failed"}')) as fake:
        storage = storage_for(fake.url, token_env="PANTAU_TEST_TOKEN")
        with pytest.raises(StorageUnavailable, match="401"):
            await storage.write(points(2))
        await storage.close()
    (request,) = fake.requests
    assert request.headers["authorization"] == "Token s3cret"


async def test_basic_auth_for_1x(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_TEST_PASSWORD", "pw")
    async with RecordingServer(lambda _: Reply(204)) as fake:
        storage = storage_for(fake.url, username="pantau", password_env="PANTAU_TEST_PASSWORD")
        await storage.write(points(1))
        await storage.close()
    assert fake.requests[0].headers["authorization"] == "Basic cGFudGF1OnB3"


async def test_field_type_conflict_rejects_exactly_that_point(influx_storage: InfluxStorage) -> None:
    await influx_storage.write(points(1))
    batch = points(4)
    conflict = Point("reading", {"site": "s"}, {"value": "high"}, time_ns(NOW) + 500)
    with pytest.raises(StorageRejected, match="type") as caught:
        await influx_storage.write([*batch[:2], conflict, *batch[2:]])
    assert caught.value.rejected == [conflict]
    (series,) = await influx_storage.query(
        SeriesQuery("reading", ("value",), NOW, NOW + timedelta(seconds=1))
    )
    assert [row.values["value"] for row in series.rows] == [0.0, 1.0, 2.0, 3.0]


async def test_dead_server_then_back(influxd: Influxd, influx_db: str) -> None:
    config = InfluxConfig(url=influxd.url, database=influx_db, retry_for=timedelta(milliseconds=500))
    storage = InfluxStorage(config, Retention())
    try:
        await storage.setup()
        influxd.kill()
        try:
            with pytest.raises(StorageUnavailable):
                await storage.write(points(2))
            with pytest.raises(StorageUnavailable):
                await storage.ping()
        finally:
            influxd.start()  # same port: other tests share this influxd
        await storage.write(points(2))
        (series,) = await storage.query(SeriesQuery("reading", ("value",), NOW, NOW + timedelta(seconds=1)))
        assert len(series.rows) == 2
    finally:
        await storage.close()
