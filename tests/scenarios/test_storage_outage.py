"""A day without InfluxDB, in virtual time: the spool holds everything, memory stays bounded, the writer
resumes by itself and nothing is lost or doubled. Real influxd, stopped and started; the ingest pipeline
and spool writer of a backend worker on a VirtualClock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from backend.config import WriterConfig
from backend.ingest.pipeline import IngestPipeline
from backend.ingest.spool import Spool
from backend.ingest.subscriber import Incoming
from backend.ingest.writer import SpoolWriter
from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import Retention
from pantau.contract import Reading, Readings, Topics, encode
from pantau.resilience import VirtualClock
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.process import start_with_port_retries

pytestmark = pytest.mark.services

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
OUTAGE = timedelta(hours=24)
#: The demo's river gauges: about one readings message a second across the site, four channels each.
PER_MINUTE = 60
CHANNELS = ("level", "distance", "echo_amplitude", "signal_quality")
#: What the outage may add to this process's resident memory. The spool is on disk; its read-through cache
#: holds at most 100,000 points (spool.CACHED_POINTS), measured at about 70 MB here, full after about seven
#: hours at this rate. After that memory must stay flat.
MEMORY_BOUND_MB = 100
FLAT_MB = 8
SEQ_MARK = 987_654_321
TS_MARK = datetime(2001, 2, 3, 4, 5, 6, 789_000, tzinfo=UTC)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def minute_of_readings(topics: Topics, clock: VirtualClock, first_seq: int) -> list[Incoming]:
    """A minute of one gauge's readings as they arrive from the broker (encoded once, then re-stamped:
    building 86,400 contract models would cost this test more than the day it simulates)."""
    template = encode(
        Readings(
            site="ampal-mufakat",
            device="wl-radar",
            gateway="gw-ampal-mufakat",
            seq=SEQ_MARK,
            ts=TS_MARK,
            channels={name: Reading.measured(1.25, "m") for name in CHANNELS},
        )
    )
    topic = topics.readings("ampal-mufakat", "wl-radar")
    stamp = TS_MARK.isoformat(timespec="microseconds")[:-6].encode()
    batch = []
    for offset in range(PER_MINUTE):
        seq = first_seq + offset
        ts = (clock.now() + timedelta(seconds=offset)).isoformat(timespec="microseconds")[:-6].encode()
        payload = template.replace(str(SEQ_MARK).encode(), str(seq).encode()).replace(stamp, ts)
        batch.append(Incoming(topic, payload, seq, 1, clock.time()))
    return batch


async def count_readings(influxd: Influxd, database: str) -> int:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{influxd.url}/query", params={"db": database, "q": 'SELECT count("value") FROM "reading"'}
        )
    series = answer.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


@pytest.mark.timeout(600)  # about a minute and a half alone; more on a loaded machine
async def test_a_24_hour_influxdb_outage_at_the_demo_rate_loses_nothing_and_the_writer_resumes(
    tmp_path: Path,
) -> None:
    influxd = Influxd(tmp_path / "influxd", require_binary("influxd", "influxdb"))
    start_with_port_retries(influxd)
    clock = VirtualClock(START, quiet_s=0.0005)
    storage = InfluxStorage(
        InfluxConfig(url=influxd.url, database="outage", retry_for=timedelta(seconds=10)),
        Retention(raw=timedelta(days=90)),
        clock=clock,
    )
    spool = Spool(tmp_path / "spool.sqlite3")
    writer = SpoolWriter(spool, storage, WriterConfig(retry_cap=timedelta(seconds=30)), clock=clock)
    topics = Topics()
    pipeline = IngestPipeline(spool, topics, writer.notify)
    write_task = asyncio.create_task(writer.run())
    sent = 0
    try:
        await pipeline(minute_of_readings(topics, clock, sent))
        sent += PER_MINUTE
        async with asyncio.timeout(30):
            while spool.state().points:
                await asyncio.sleep(0.01)
        await clock.sleep(60)  # the next minute: readings are stamped a minute later (same time = overwrite)
        influxd.stop()
        memory_before = rss_mb()
        peak = memory_before
        at_half_day = 0.0
        while clock.monotonic() < OUTAGE.total_seconds():
            await pipeline(minute_of_readings(topics, clock, sent))
            sent += PER_MINUTE
            await clock.sleep(60)
            peak = max(peak, rss_mb())
            if not at_half_day and clock.monotonic() >= OUTAGE.total_seconds() / 2:
                at_half_day = peak
        held = spool.state().points
        assert not write_task.done(), write_task.exception() if write_task.done() else None
        start_with_port_retries(influxd)  # same data folder: what was written before the outage is there
        async with asyncio.timeout(180):
            while spool.state().points:
                assert not write_task.done(), write_task.exception()
                await asyncio.sleep(0.05)
        stored = await count_readings(influxd, "outage")
    finally:
        write_task.cancel()
        await asyncio.gather(write_task, return_exceptions=True)
        await storage.close()
        await clock.aclose()
        spool.close()
        influxd.stop()
    assert held >= (sent - PER_MINUTE) * len(CHANNELS)  # a day's readings waited in the spool
    assert writer.stats.write_failures_total > 0
    assert stored == sent * len(CHANNELS)  # nothing lost, nothing doubled
    assert peak - memory_before < MEMORY_BOUND_MB, f"RSS grew {peak - memory_before:.1f} MB in the outage"
    assert peak - at_half_day < FLAT_MB, f"RSS still grew {peak - at_half_day:.1f} MB in the second 12 hours"
