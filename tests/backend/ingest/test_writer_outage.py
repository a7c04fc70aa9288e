"""The spool writer while storage is down: what it asks of storage, and that it writes once storage is back.

Real influxd behind a TCP proxy that counts connections (one per HTTP request here: the proxy resets each
one while nothing listens behind it); storage goes away behind its address and comes back. The writer and
the storage client run on a VirtualClock, with the shipped retry settings."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest

from backend.config import WriterConfig
from backend.ingest.spool import Spool
from backend.ingest.writer import SpoolWriter
from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import Point, Retention
from pantau.resilience import VirtualClock
from tests.harness.influxd import Influxd
from tests.harness.tcp_proxy import TcpProxy

pytestmark = pytest.mark.services

START: Final = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
OUTAGE_S: Final = 3600.0
#: The hour passes in steps: virtual time jumps while a request is in flight (the loop waits on a socket,
#: which is quiet), so one sleep of an hour could end before the proxy had answered the first request.
STEP_S: Final = 5.0


def points(batch: int) -> list[Point]:
    at = int(START.timestamp()) * 10**9 + batch * 10**9
    return [
        Point("reading", {"site": "ampal", "device": "wl-radar", "channel": f"c{n}"}, {"value": 1.5}, at)
        for n in range(50)
    ]


async def spool_empty(spool: Spool) -> None:
    async with asyncio.timeout(30):
        while spool.state().points:
            await asyncio.sleep(0.01)


async def test_in_an_outage_the_writer_asks_storage_once_per_back_off_and_writes_when_it_is_back(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    clock = VirtualClock(START)
    proxy = TcpProxy(influxd.host, influxd.port)
    proxy.start()
    config = InfluxConfig(url=f"http://{proxy.host}:{proxy.port}", database=influx_db)
    storage = InfluxStorage(config, Retention(), clock=clock)
    spool = Spool(tmp_path / "spool.sqlite3")
    writer = SpoolWriter(spool, storage, WriterConfig(), clock=clock)
    write_task = asyncio.create_task(writer.run())
    dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        spool.accept(points(0))
        writer.notify()
        await spool_empty(spool)  # storage was up: set up and written
        # Storage down: a port bound but never listening refuses every connection, and while this test
        # holds it nothing else can take it (a port merely free when chosen was, once, another server's).
        dead.bind((influxd.host, 0))
        proxy.target = (influxd.host, dead.getsockname()[1])
        proxy.cut("drop")  # and the pooled connection to it goes
        proxy.heal()
        spool.accept(points(1))
        writer.notify()
        async with asyncio.timeout(60):  # the first write finds it down (after the client's own retries)
            while writer.stats.storage_up:
                await asyncio.sleep(0.01)
        before = proxy.connections_total
        for _ in range(int(OUTAGE_S / STEP_S)):
            await clock.sleep(STEP_S)
        asked = proxy.connections_total - before
        held = spool.state().points
        proxy.target = (influxd.host, influxd.port)  # back
        await spool_empty(spool)
        assert not write_task.done(), write_task.exception() if write_task.done() else None
    finally:
        write_task.cancel()
        await asyncio.gather(write_task, return_exceptions=True)
        await storage.close()
        await clock.aclose()
        spool.close()
        proxy.stop()
        dead.close()
    assert held == len(points(1))
    stored = influxd.query('SELECT count("value") FROM "reading"', influx_db)["results"][0]["series"][0]
    assert stored["values"][0][1] == 2 * len(points(0))
    # One request per back-off: at the shipped 30 s cap (full jitter, 15 s on average) about 250 in the hour.
    # Sending the batch on each retry, the storage client retried each write for its 30 s (a request every
    # 2.5 s on average) before the writer's back-off: about 1,000.
    cap = WriterConfig().retry_cap.total_seconds()
    assert writer.stats.write_failures_total >= OUTAGE_S / cap
    assert asked <= 1.5 * OUTAGE_S / (cap / 2), f"{asked} requests to storage in an hour of outage"
