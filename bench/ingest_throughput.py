"""Backend ingest benchmark: readings per second from MQTT into InfluxDB, durably acknowledged.

A persistent session is filled with MESSAGES readings messages (CHANNELS channels each) while the consumer
is away, then the consumer starts and the clock runs until everything is stored. Side by side:
  * ceiling   — paho receiving with automatic acknowledgement, no decoding, no storage (broker + client),
  * naive     — decode each message, one InfluxDB write per message, then acknowledge (a per-message flow),
  * pantau    — the backend worker: batch decode, spool commit (fsync) then PUBACK, batched gzip writes.
Target (issue #5): >= 70,000 readings/s for one worker. Real mosquitto and influxd, loopback only.
Rates are also given as a ratio to the ceiling of the same invocation: on a shared machine the absolute
figures swing by 2x from run to run, the ratios much less. `--rounds N` repeats ceiling and pantau N times.
Then the CPU cost of each stage of the pantau path, in microseconds per message, measured in-process.

Run: `make bench` or `python -m bench.ingest_throughput [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gzip
import statistics
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt

from backend.config import BackendConfig
from backend.ingest.spool import encode_points
from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.influx.client import GZIP_LEVEL
from backend.storage.influx.line_protocol import encode_point
from backend.storage.model import Retention
from backend.storage.schema import to_points
from backend.worker import BackendWorker
from pantau.contract import Reading, Readings, Topics, decode, encode
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import start_with_port_retries

MESSAGES = 20_000
CHANNELS = 10
NAIVE_MESSAGES = 1_000  # the naive flow is slow; its rate is measured on fewer messages
STAGE_MESSAGES = 2_000
PREFIX = "bench/v1"
T0 = datetime(2026, 11, 28, tzinfo=UTC)


def payloads(count: int) -> list[tuple[str, bytes]]:
    topics = Topics(PREFIX)
    out = []
    for seq in range(count):
        device = f"wl-{seq % 50}"
        message = Readings(
            site="ampal-mufakat", gateway="gw-bench", seq=seq, ts=T0 + timedelta(seconds=seq // 50),
            device=device,
            channels={f"ch{c}": Reading(value=seq + c / 10, unit="m") for c in range(CHANNELS)},
        )  # fmt: skip
        out.append((topics.readings("ampal-mufakat", device), encode(message)))
    return out


def fill_session(broker: Mosquitto, client_id: str, messages: list[tuple[str, bytes]]) -> None:
    """Create `client_id`'s persistent session, leave, and publish everything into its queue."""
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    sub.subscribe(f"{PREFIX}/#", qos=1)
    time.sleep(0.3)  # the SUBACK arrives on loopback long before this
    sub.loop_stop()
    sub.disconnect()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{client_id}-pub")
    pub.max_inflight_messages_set(1000)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    infos = [pub.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(30)
    pub.loop_stop()
    pub.disconnect()


def drop_session(broker: Mosquitto, client_id: str) -> None:
    """Discard `client_id`'s persistent session: left subscribed, it would queue a copy of every later
    round's messages in the broker (which slowed each round after the first by up to a half)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(broker.host, broker.port)
    client.loop_start()
    time.sleep(0.2)  # the CONNACK, and with it the discarded session, on loopback
    client.loop_stop()
    client.disconnect()


def ceiling(broker: Mosquitto, count: int) -> float:
    """Seconds for paho to receive `count` queued messages (auto-ack, nothing else)."""
    received = 0
    finished: list[float] = []

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal received
        received += 1
        if received == count:
            finished.append(time.perf_counter())

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-ceiling", clean_session=False)
    client.on_message = on_message
    started = time.perf_counter()
    client.connect(broker.host, broker.port)
    while not finished:
        client.loop(0.1)
    client.disconnect()
    return finished[0] - started


async def naive(broker: Mosquitto, influxd: Influxd, count: int) -> float:
    """Seconds for decode + one write per message + acknowledge, over `count` queued messages."""
    storage = InfluxStorage(InfluxConfig(url=influxd.url, database="bench_naive"), Retention())
    await storage.setup()
    started = time.perf_counter()
    async with aiomqtt.Client(
        broker.host, broker.port, identifier="bench-naive", clean_session=False
    ) as client:
        seen = 0
        async for message in client.messages:
            await storage.write(to_points(decode(bytes(message.payload))))  # type: ignore[arg-type]
            seen += 1
            if seen == count:
                break
    elapsed = time.perf_counter() - started
    await storage.close()
    return elapsed


async def pantau(broker: Mosquitto, influxd: Influxd, workdir: Path, count: int, database: str) -> float:
    config = BackendConfig.model_validate({
        "worker_id": "bench",
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": PREFIX, "protocol": 311},
        "storage": {"influx": {"url": influxd.url, "database": database}},
        "spool": {"path": str(workdir / "spool.sqlite3")},
        "rollups": {"enabled": False},
    })  # fmt: skip
    worker = BackendWorker(config)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    while worker.writer.stats.points_written_total < count * CHANNELS:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    elapsed = time.perf_counter() - started
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return elapsed


def stages(messages: list[tuple[str, bytes]]) -> list[tuple[str, float]]:
    """CPU microseconds per message of each step of the pantau path (best of 3, this process)."""
    topics = Topics(PREFIX)
    decoded = [decode(payload, topic=topic, topics=topics) for topic, payload in messages]
    points = [to_points(message) for message in decoded]
    flat = [point for group in points for point in group]
    body = "\n".join(encode_point(point) for point in flat).encode()

    def per_message(step: Callable[[], object]) -> float:
        return min(timeit.repeat(step, number=1, repeat=3)) / len(messages) * 1e6

    return [
        ("validate (contract, topic)", per_message(lambda: [decode(p, topic=t, topics=topics) for t, p in messages])),  # noqa: E501
        ("points (storage schema)", per_message(lambda: [to_points(message) for message in decoded])),
        ("spool row (JSON)", per_message(lambda: encode_points(flat))),
        ("line protocol", per_message(lambda: [encode_point(point) for point in flat])),
        (f"gzip level {GZIP_LEVEL}", per_message(lambda: gzip.compress(body, GZIP_LEVEL))),
    ]  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=1, help="ceiling + pantau pairs to run (default 1)")
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mqtt", require_binary("mosquitto", "mosquitto"))
        influxd = Influxd(work / "influx", require_binary("influxd", "influxdb"))
        for service in (broker, influxd):
            start_with_port_retries(service)
        try:
            messages = payloads(MESSAGES)
            results: list[tuple[str, int, float]] = []

            async def run(
                name: str, client_id: str, count: int, measure: Callable[[], Awaitable[float] | float]
            ) -> None:
                await asyncio.to_thread(fill_session, broker, client_id, messages[:count])
                outcome = measure()
                seconds = await outcome if not isinstance(outcome, float) else outcome
                results.append((name, count, seconds))
                await asyncio.to_thread(drop_session, broker, client_id)

            await run("naive", "bench-naive", NAIVE_MESSAGES, lambda: naive(broker, influxd, NAIVE_MESSAGES))
            for round_ in range(rounds):
                # A fresh spool and database per round: into the previous round's database the same points
                # would be overwrites, which is not the load being measured.
                spool = work / f"round-{round_}"
                await run("ceiling", "bench-ceiling", MESSAGES, lambda: ceiling(broker, MESSAGES))
                measure = functools.partial(
                    pantau, broker, influxd, spool, MESSAGES, f"bench_pantau_{round_}"
                )
                await run("pantau", "pantau-bench", MESSAGES, measure)
        finally:
            broker.stop()
            influxd.stop()
    report(results)
    print(f"\nCPU per message by stage (µs, {STAGE_MESSAGES} messages, this process):")
    for name, micros in stages(messages[:STAGE_MESSAGES]):
        print(f"  {name:<28} {micros:>7.1f}")


def report(results: list[tuple[str, int, float]]) -> None:
    print(f"ingest: {MESSAGES} messages x {CHANNELS} channels, mosquitto + influxd on loopback")
    columns = ("messages", "seconds", "messages/s", "readings/s", "/ ceiling")
    print(f"{'flow':<10} {columns[0]:>9} {columns[1]:>8} {columns[2]:>11} {columns[3]:>11} {columns[4]:>9}")
    ceiling_rate = 0.0
    ratios: list[float] = []
    naive_rate = 0.0
    for name, count, seconds in results:
        rate = count * CHANNELS / seconds
        if name == "ceiling":
            ceiling_rate = rate
        ratio = f"{rate / ceiling_rate:>9.2f}" if ceiling_rate else f"{'':>9}"
        if name == "pantau":
            ratios.append(rate / ceiling_rate)
        if name == "naive":
            naive_rate = rate
        print(f"{name:<10} {count:>9} {seconds:>8.2f} {count / seconds:>11,.0f} {rate:>11,.0f} {ratio}")
    pantau_rates = [count * CHANNELS / seconds for name, count, seconds in results if name == "pantau"]
    best = max(pantau_rates)
    print(
        f"pantau / ceiling (median of {len(ratios)}): {statistics.median(ratios):.2f}   "
        f"pantau / naive: {statistics.median(pantau_rates) / naive_rate:.1f}x   "
        f"target 70,000 readings/s: best {best / 70_000:.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
