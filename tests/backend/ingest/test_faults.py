"""Faults under a sustained stream: the backend SIGKILLed, influxd down for 12 s, a worker away while the
shipped mosquitto.conf queues for it. Afterwards every published message is stored exactly once."""

from __future__ import annotations

import asyncio
import getpass
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import aiomqtt
import pytest
import yaml

from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.model import ALL_TAGS, Retention, SeriesQuery
from pantau.contract import Topics, encode
from tests.harness.backend import T0, backend_config, eventually, readings, running
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import start_with_port_retries, wait_until

SHIPPED_MOSQUITTO_CONF = Path(__file__).parents[3] / "backend" / "deploy" / "mosquitto" / "mosquitto.conf"
EVERYTHING = (T0 - timedelta(days=1), T0 + timedelta(days=30))


async def stream(broker: Mosquitto, prefix: str, count: int, rate: float, first: int = 0) -> None:
    """Publish `count` readings (QoS 1) at about `rate` messages per second, as a gateway would."""
    topics = Topics(prefix)
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"gw-{prefix[-6:]}") as client:
        for seq in range(first, first + count):
            message = readings(seq)
            await client.publish(topics.readings(message.site, message.device), encode(message), qos=1)
            await asyncio.sleep(1 / rate)


async def stored_seqs(storage: InfluxStorage) -> list[int]:
    """The `seq` of every stored `level` point, in time order (one point per message)."""
    query = SeriesQuery("reading", ("seq",), *EVERYTHING, tags={"channel": "level"}, group_by=ALL_TAGS)
    return [int(row.values["seq"]) for series in await storage.query(query) for row in series.rows]  # type: ignore[arg-type]


async def exactly_once(storage: InfluxStorage, count: int, timeout: float = 60) -> None:
    """Wait until `count` messages are stored, then check each is there once: none lost. A message
    delivered twice is stored once whatever the worker does (storage overwrites the same series and
    time), so a doubled delivery is checked on the worker's counters where a test can tell."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(seen := await stored_seqs(storage)) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
    missing = sorted(set(range(count)) - set(seen))
    assert seen == list(range(count)), f"stored {len(seen)} of {count}; missing {missing[:20]}"
    totals = await storage.query(SeriesQuery("reading", ("quality",), *EVERYTHING, group_by=("channel",)))
    assert {s.tags["channel"]: len(s.rows) for s in totals} == {
        "level": count,
        "distance": count,
        "signal_quality": count,
    }


@asynccontextmanager
async def reader(influxd: Influxd, database: str) -> AsyncIterator[InfluxStorage]:
    storage = InfluxStorage(InfluxConfig(url=influxd.url, database=database, retry_for=2), Retention())
    await storage.setup()
    yield storage
    await storage.close()


class BackendProcess:
    """`pantau backend run` as a child process, the way systemd runs it, so SIGKILL is a real crash."""

    def __init__(self, config_file: Path) -> None:
        self.config_file = config_file
        self.log = config_file.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0  # the log of an earlier run is kept
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "pantau", "backend", "run", "--config", str(self.config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.process = process

        def subscribed() -> bool:
            assert process.poll() is None, f"the backend exited at start:\n{self.log.read_text()}"
            return b"subscribed at" in self.log.read_bytes()[offset:]

        assert wait_until(subscribed, timeout=30), self.log.read_text()

    def kill(self) -> None:
        assert self.process is not None
        assert self.process.poll() is None, "the backend was not running when it was to be killed"
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)


@pytest.fixture
def backend_process(tmp_path: Path) -> Iterator[list[BackendProcess]]:
    started: list[BackendProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.mark.timeout(180)
async def test_backend_killed_mid_stream_and_restarted_stores_every_message_exactly_once(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influxd: Influxd,
    influx_db: str,
    backend_process: list[BackendProcess],
) -> None:
    config = backend_config(
        mosquitto, mqtt_topic_root, tmp_path, storage={"influx": {"url": influxd.url, "database": influx_db}}
    )
    config_file = tmp_path / "backend.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    backend = BackendProcess(config_file)
    backend_process.append(backend)
    backend.start()
    count = 1200
    publishing = asyncio.create_task(stream(mosquitto, mqtt_topic_root, count, rate=300))
    async with reader(influxd, influx_db) as storage:
        await eventually(lambda: stored_seqs(storage), what="messages stored before the kill")
        assert not publishing.done(), "the stream ended before the kill: nothing was mid-stream"
        backend.kill()  # mid-stream: some batches spooled, some written, some not yet acknowledged
        killed_at = len(await stored_seqs(storage))
        await asyncio.to_thread(backend.start)
        await publishing
        assert killed_at < count
        await exactly_once(storage, count)
    assert "Traceback" not in backend.log.read_text()


#: Long enough for several of the writer's retries at its cap (the write gives up after `retry_for` 1 s,
#: then waits at most `retry_cap` 1 s: about one retry every 1-2 s), which is all an outage's length means to
#: the writer; the stream runs on before, through and after it. Minutes-long outages of real processes are
#: the fault suite's long profile (make faults).
INFLUXD_OUTAGE_S = 12
MIN_RETRIES = 4


@pytest.mark.timeout(120)
async def test_influxd_down_for_12_s_under_load_loses_nothing(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influxd: Influxd,
    influx_db: str,
) -> None:
    config = backend_config(
        mosquitto,
        mqtt_topic_root,
        tmp_path,
        storage={"influx": {"url": influxd.url, "database": influx_db, "retry_for": "1s"}},
    )
    assert config.writer.retry_cap.total_seconds() <= INFLUXD_OUTAGE_S / MIN_RETRIES / 2
    count, rate = 1400, 60.0  # about 23 s of traffic (at least: sleeps and publishes add up)
    async with running(config) as worker:
        publishing = asyncio.create_task(stream(mosquitto, mqtt_topic_root, count, rate=rate))
        await eventually(lambda: worker.writer.stats.points_written_total > 0, what="first writes")
        influxd.stop()
        try:
            await eventually(lambda: not worker.writer.stats.storage_up, what="outage noticed")
            await asyncio.sleep(INFLUXD_OUTAGE_S)
            assert worker.spool.state().points > 0  # acknowledged to the broker, held on disk
            assert worker.writer.stats.write_failures_total >= MIN_RETRIES  # retried, at its cap
            assert not publishing.done(), "the stream ended in the outage: nothing came after it"
        finally:
            await asyncio.to_thread(influxd.start)
        await publishing
        async with reader(influxd, influx_db) as storage:
            await exactly_once(storage, count)
        assert worker.writer.stats.storage_up
        # The MQTT side never broke: each message came once (storage would hide a second delivery).
        assert worker.pipeline.stats.accepted["readings"] == count


def shipped_broker_config(port: int, workdir: Path) -> str:
    """The shipped production config, with only what a test box must change: listener, auth, paths."""
    text = SHIPPED_MOSQUITTO_CONF.read_text()
    # Auth is off here (use_username_as_clientid refuses a client without a user name): the queue limits
    # are what this test checks; the client-id binding has its own tests (tests/deploy/test_client_ids.py).
    text = re.sub(
        r"(?m)^(listener|password_file|acl_file|persistence_location|allow_anonymous|use_username_as_clientid)"
        r"\b.*$",
        "",
        text,
    )
    # `user`: started as root, mosquitto drops to user mosquitto, who cannot write into the test's folder.
    local = f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence_location {workdir}/\n"
    return f"{local}user {getpass.getuser()}\n{text}"


@pytest.mark.timeout(180)
async def test_shipped_broker_config_queues_far_more_than_the_default_1000_for_a_stopped_worker(
    tmp_path: Path,
    influxd: Influxd,
    influx_db: str,
) -> None:
    broker = Mosquitto(tmp_path / "broker", require_binary("mosquitto", "mosquitto"))
    broker.prepare = lambda: broker.config_path.write_text(shipped_broker_config(broker.port, broker.workdir))  # type: ignore[method-assign]
    start_with_port_retries(broker)
    try:
        prefix = "pantau/v1"
        config = backend_config(
            broker, prefix, tmp_path, storage={"influx": {"url": influxd.url, "database": influx_db}}
        )
        async with running(config):
            pass  # the worker's persistent session now exists; the worker is away
        count = 5000
        await stream(broker, prefix, count, rate=5000)
        async with running(config), reader(influxd, influx_db) as storage:
            await exactly_once(storage, count, timeout=90)
    finally:
        broker.stop()
