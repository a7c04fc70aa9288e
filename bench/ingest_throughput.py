"""Backend ingest benchmark: readings per second from MQTT into InfluxDB, durably acknowledged (drain).

A persistent session is filled with `--messages` readings messages (`--channels` readings each) while the
consumer is away; then the consumer starts and the clock runs until everything is stored (or received, for
the ceiling). Side by side, in one invocation, real mosquitto and influxd on loopback:

  * ceiling   paho receiving with automatic acknowledgement, nothing else: what the MQTT client allows
  * raw LP    the same readings as prepared line protocol, gzipped beforehand, POSTed in batches of 5,000
              one after the other: what influxd takes when the writer costs nothing
  * pantau    backend workers, each a process: decode, check, spool commit (fsync), then PUBACK, batched
              gzip writes. One worker on MQTT 3.1.1 (the headline); then 1, 2 and 4 workers on an MQTT v5
              shared subscription (`--workers`), with the ratio to one worker.

Each flow is repeated `--rounds` times, alternating, and reported as the median with its range: on a shared
machine absolute figures swing from run to run, ratios within one invocation much less. CPU is given per
1,000 readings for the workers (their own processes, all threads) and for influxd and mosquitto.
Then the CPU cost of each stage of the pantau path, in microseconds per message, measured in-process.
The report goes to `bench/results/<date>-backend.md` and `.json` (`--out DIR` elsewhere); `--baseline DIR`
runs another source tree of pantau (main before a change, say) as one more flow, for an A/B in one run.
`--node-red` adds Node-RED's usual mqtt in -> function -> influxdb batch on the same queue, at the first
`--channels` (bench/nodered.py; npm installs it into var/bench/node-red on first use): issue 18's comparison.

Run: `make bench` or `python -m bench.ingest_throughput [--rounds 3] [--out bench/results]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import timeit
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.ingest.spool import encode_points
from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.influx.client import GZIP_LEVEL
from backend.storage.influx.line_protocol import encode_point
from backend.storage.model import Retention
from backend.storage.schema import to_points, wire_readings_points
from bench import nodered
from bench.ingest_profile import profile_drain, worker_config
from bench.ingest_worker import WorkerPool
from pantau.contract import Reading, Readings, Topics, decode, encode
from pantau.contract.fast import decode_readings
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port, start_with_port_retries

PREFIX = "bench/v1"
SHARED_GROUP = "bench"
T0 = datetime(2026, 11, 28, tzinfo=UTC)
RAW_BATCH = 5000
PUBLISH_SLICE = 1000
PUBLISHERS = 2
RESULTS = Path(__file__).parent / "results"
STAGE_MESSAGES = 2000
#: A flow that has not finished by then is reported as failed, and the bench goes on (something is stuck:
#: on a loaded machine a worker's connect can time out, and the flow waits for its reconnect back-off).
FLOW_TIMEOUT_S = 240.0


@dataclass
class Run:
    flow: str
    channels: int
    workers: int
    round: int
    messages: int
    seconds: float
    worker_cpu_s: float
    influxd_cpu_s: float
    mosquitto_cpu_s: float

    @property
    def readings(self) -> int:
        return self.messages * self.channels

    @property
    def rate(self) -> float:
        return self.readings / self.seconds


def payloads(count: int, channels: int) -> list[tuple[str, bytes]]:
    topics = Topics(PREFIX)
    out = []
    for seq in range(count):
        device = f"wl-{seq % 50}"
        message = Readings(
            site="ampal-mufakat", gateway="gw-bench", seq=seq, ts=T0 + timedelta(seconds=seq // 50),
            device=device,
            channels={f"ch{c}": Reading(value=seq + c / 10, unit="m") for c in range(channels)},
        )  # fmt: skip
        out.append((topics.readings("ampal-mufakat", device), encode(message)))
    return out


def _client(client_id: str, broker: Mosquitto, *, v5: bool) -> mqtt.Client:
    if not v5:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        client.connect(broker.host, broker.port)
        return client
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=False, properties=properties)
    return client


def fill_sessions(
    broker: Mosquitto,
    client_ids: list[str],
    filters: list[str],
    messages: list[tuple[str, bytes]],
    *,
    v5: bool,
) -> None:
    """Create each client's persistent session with `filters`, leave, and publish into the queues (a
    shared subscription's messages are dealt round-robin among its sessions, connected or not)."""
    for client_id in client_ids:
        sub = _client(client_id, broker, v5=v5)
        sub.loop_start()
        for topic_filter in filters:
            sub.subscribe(topic_filter, qos=1)
        time.sleep(0.3)  # the SUBACKs arrive on loopback long before this
        sub.loop_stop()
        sub.disconnect()
    # Filling is not what is measured, yet it was most of make bench's time (12.6 s per flow of 100,000
    # messages from one paho client, 18 flows): two publisher processes take 7.5 s. Message i goes to
    # publisher i % 2, and a device is wl-{seq % 50}, so each device's messages keep their order.
    with ProcessPoolExecutor(PUBLISHERS) as pool:
        shares = [
            pool.submit(_publish, broker.host, broker.port, f"bench-pub-{index}", messages[index::PUBLISHERS])
            for index in range(PUBLISHERS)
        ]
        for share in shares:
            share.result()


def _publish(host: str, port: int, client_id: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish `messages` at QoS 1 and return once the broker has acknowledged them all."""
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    pub.max_inflight_messages_set(1000)
    pub.connect(host, port)
    pub.loop_start()
    # In slices, each confirmed before the next: 100,000 publishes queued at once overran paho's queue.
    for start in range(0, len(messages), PUBLISH_SLICE):
        infos = [
            pub.publish(topic, payload, qos=1) for topic, payload in messages[start : start + PUBLISH_SLICE]
        ]
        for info in infos:
            info.wait_for_publish(60)
    pub.loop_stop()
    pub.disconnect()


def drop_sessions(broker: Mosquitto, client_ids: list[str]) -> None:
    """Discard the sessions: left subscribed, each would queue a copy of every later flow's messages."""
    for client_id in client_ids:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        client.connect(broker.host, broker.port)
        client.loop_start()
        time.sleep(0.2)  # the CONNACK, and with it the discarded session, on loopback
        client.loop_stop()
        client.disconnect()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, broker: Mosquitto, influxd: Influxd, work: Path, messages: int) -> None:
        self.broker, self.influxd, self.work, self.messages = broker, influxd, work, messages
        self.runs: list[Run] = []
        self.failures: list[str] = []
        self._databases = 0

    def _services_cpu(self) -> tuple[float, float]:
        return process_cpu(self.influxd.pid), process_cpu(self.broker.pid)

    def _record(  # noqa: PLR0917  # one figure of each: the positions read as the table's columns
        self,
        flow: str,
        channels: int,
        workers: int,
        round_: int,
        seconds: float,
        worker_cpu: float,
        before: tuple[float, float],
    ) -> None:
        influx_cpu, broker_cpu = (
            after - start for after, start in zip(self._services_cpu(), before, strict=True)
        )
        run = Run(flow, channels, workers, round_, self.messages, seconds, worker_cpu, influx_cpu, broker_cpu)
        self.runs.append(run)
        print(f"  {flow:<14} {channels:>2} ch  round {round_}: {run.rate:>9,.0f} readings/s", flush=True)

    def ceiling(self, messages: list[tuple[str, bytes]], channels: int, round_: int) -> None:
        """paho receiving the queue with automatic acknowledgement, nothing else."""
        fill_sessions(self.broker, ["bench-ceiling"], [f"{PREFIX}/#"], messages, v5=False)
        received = 0
        count = len(messages)

        def on_message(_c: object, _u: object, _m: object) -> None:
            nonlocal received
            received += 1

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-ceiling", clean_session=False)
        client.on_message = on_message
        before, cpu = self._services_cpu(), time.process_time()
        started = time.perf_counter()
        client.connect(self.broker.host, self.broker.port)
        while received < count:
            client.loop(0.1)
        seconds = time.perf_counter() - started
        self._record("ceiling", channels, 0, round_, seconds, time.process_time() - cpu, before)
        client.disconnect()
        drop_sessions(self.broker, ["bench-ceiling"])

    def raw_line_protocol(self, messages: list[tuple[str, bytes]], channels: int, round_: int) -> None:
        """The same readings as ready-made, gzipped line protocol, POSTed in batches, one after the other."""
        database = self._database()
        lines = [
            encode_point(point).encode() for _, payload in messages for point in to_points(decode(payload))
        ]
        bodies = [
            gzip.compress(b"\n".join(lines[start : start + RAW_BATCH]), GZIP_LEVEL)
            for start in range(0, len(lines), RAW_BATCH)
        ]
        params = {
            "db": database,
            "rp": InfluxConfig(url=self.influxd.url).retention_policy_raw,
            "precision": "ns",
        }
        with httpx.Client(base_url=self.influxd.url, timeout=60) as http:
            before, cpu = self._services_cpu(), time.process_time()
            started = time.perf_counter()
            for body in bodies:
                http.post(
                    "/write", params=params, content=body, headers={"Content-Encoding": "gzip"}
                ).raise_for_status()
            seconds = time.perf_counter() - started
        self._record("raw LP", channels, 0, round_, seconds, time.process_time() - cpu, before)

    def pantau(
        self,
        messages: list[tuple[str, bytes]],
        channels: int,
        round_: int,
        workers: int,
        *,
        v5: bool,
        code_root: Path | None = None,
    ) -> None:
        """`workers` backend worker processes draining the queue into a fresh database; `code_root` runs
        another source tree of pantau in them (the baseline)."""
        database = self._database()
        topics = Topics(PREFIX)
        filters = topics.all_gateway_traffic()
        if v5:
            filters = [Topics.shared(SHARED_GROUP, topic_filter) for topic_filter in filters]
        ids = [f"bench-{'v5' if v5 else 'v3'}-{index}" for index in range(workers)]
        configs = [self._worker_config(worker_id, database, v5=v5) for worker_id in ids]
        fill_sessions(self.broker, ids, filters, messages, v5=v5)
        pool = WorkerPool(configs, code_root)
        flow = "baseline" if code_root else (f"pantau x{workers} v5" if v5 else "pantau")
        try:
            before = self._services_cpu()
            seconds = pool.run_until(len(messages) * channels, FLOW_TIMEOUT_S)
            self._record(flow, channels, workers, round_, seconds, pool.cpu_seconds(), before)
        except TimeoutError as exc:
            self.failures.append(f"{flow}, {channels} readings/msg, round {round_}: {exc}")
            print(f"  {flow:<14} {channels:>2} ch  round {round_}: FAILED, {exc}", flush=True)
        finally:
            pool.stop()
            drop_sessions(self.broker, ids)

    def node_red(self, messages: list[tuple[str, bytes]], channels: int, round_: int) -> None:
        """Node-RED (bench/nodered.py) draining the same queue into a fresh database, timed from its MQTT
        connection (its start-up is left out) to InfluxDB's acknowledgement of the last point."""
        database = self._database()
        filters = Topics(PREFIX).all_gateway_traffic()
        node_red = nodered.NodeRed(
            self.work / f"node-red-{database}", broker_port=self.broker.port, influx_url=self.influxd.url,
            database=database, retention_policy=InfluxConfig(url=self.influxd.url).retention_policy_raw,
            topic_filters=filters, expected=len(messages) * channels, ui_port=free_port(),
        )  # fmt: skip
        fill_sessions(self.broker, [nodered.CLIENT_ID], filters, messages, v5=False)
        before: list[tuple[float, float]] = []
        try:
            node_red.start()
            run = node_red.run_until(FLOW_TIMEOUT_S, on_start=lambda: before.append(self._services_cpu()))
            self._record("node-red", channels, 1, round_, run.seconds, run.cpu_s, before[0])
            print(f"  {'':<14} clock from its MQTT connect to the last point stored ({run.end})", flush=True)
        except (TimeoutError, RuntimeError) as exc:
            self.failures.append(f"node-red, {channels} readings/msg, round {round_}: {exc}")
            print(f"  {'node-red':<14} {channels:>2} ch  round {round_}: FAILED, {exc}", flush=True)
        finally:
            node_red.stop()
            drop_sessions(self.broker, [nodered.CLIENT_ID])

    def _worker_config(self, worker_id: str, database: str, *, v5: bool) -> dict[str, Any]:
        mqtt_settings = {
            "host": self.broker.host,
            "port": self.broker.port,
            "topic_prefix": PREFIX,
            "protocol": 5 if v5 else 311,
            "shared_group": SHARED_GROUP if v5 else None,
            "client_id": worker_id,
            "session_expiry": "1h",
        }
        return {
            "worker_id": worker_id,
            "mqtt": mqtt_settings,
            "storage": {"influx": {"url": self.influxd.url, "database": database}},
            "spool": {"path": str(self.work / f"{database}-{worker_id}.sqlite3")},
            "rollups": {"enabled": False},
        }

    def _database(self) -> str:
        # A fresh database per flow: into the previous flow's database the same points would be overwrites,
        # which is not the load being measured.
        self._databases += 1
        name = f"bench_{self._databases}"
        storage = InfluxStorage(InfluxConfig(url=self.influxd.url, database=name), Retention())

        async def setup() -> None:
            await storage.setup()
            await storage.close()

        asyncio.run(setup())
        return name


def profiled(broker: Mosquitto, influxd: Influxd, work: Path, messages: list[tuple[str, bytes]]) -> str:
    """One worker's drain of `messages`, in this process under cProfile (bench/ingest_profile.py)."""
    client_id = "bench-profile"
    fill_sessions(broker, [client_id], Topics(PREFIX).all_gateway_traffic(), messages, v5=False)
    readings = sum(len(json.loads(payload)["channels"]) for _, payload in messages)
    try:
        return profile_drain(worker_config(broker, influxd, work, PREFIX, client_id), readings)
    finally:
        drop_sessions(broker, [client_id])


def stages(messages: list[tuple[str, bytes]]) -> list[tuple[str, float]]:
    """CPU microseconds per message of each step of the pantau path (best of 3, this process)."""
    topics = Topics(PREFIX)
    fast = [decode_readings(payload, topic, topics) for topic, payload in messages]
    wire = [taken for taken in fast if taken is not None]
    if len(wire) != len(messages):
        raise RuntimeError("the fast path declined a bench message: the figures would mislead")
    flat = [point for message, at in wire for point in wire_readings_points(message, at)]
    body = "\n".join(encode_point(point) for point in flat).encode()

    def per_message(step: Callable[[], object]) -> float:
        return min(timeit.repeat(step, number=1, repeat=3)) / len(messages) * 1e6

    return [
        ("decode, fast path", per_message(lambda: [decode_readings(p, t, topics) for t, p in messages])),
        ("decode, models", per_message(lambda: [decode(p, topic=t, topics=topics) for t, p in messages])),
        ("points (from the fast path)", per_message(lambda: [wire_readings_points(m, at) for m, at in wire])),
        ("spool row (JSON)", per_message(lambda: encode_points(flat))),
        ("line protocol", per_message(lambda: [encode_point(point) for point in flat])),
        (f"gzip level {GZIP_LEVEL}", per_message(lambda: gzip.compress(body, GZIP_LEVEL))),
    ]  # fmt: skip


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    """Median and range per flow and channel count, with the ratios that matter beside each."""
    groups: dict[tuple[str, int, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.flow, run.channels, run.workers), []).append(run)
    rows = []
    for (flow, channels, workers), group in groups.items():
        rates = [run.rate for run in group]
        per_1k = 1000 / sum(run.readings for run in group)
        rows.append({
            "flow": flow, "channels": channels, "workers": workers, "rounds": len(group),
            "readings_per_s": statistics.median(rates), "min": min(rates), "max": max(rates),
            "worker_cpu_s_per_1k": sum(run.worker_cpu_s for run in group) * per_1k if workers else None,
            "influxd_cpu_s_per_1k": sum(run.influxd_cpu_s for run in group) * per_1k,
            "mosquitto_cpu_s_per_1k": sum(run.mosquitto_cpu_s for run in group) * per_1k,
        })  # fmt: skip
    median = {(row["flow"], row["channels"]): row["readings_per_s"] for row in rows}
    for row in rows:
        channels = row["channels"]
        if row["flow"].startswith("pantau") or row["flow"] in {"baseline", "node-red"}:
            row["to_ceiling"] = row["readings_per_s"] / median[("ceiling", channels)]
            row["to_raw_lp"] = row["readings_per_s"] / median[("raw LP", channels)]
        if ("baseline", channels) in median and row["flow"].startswith("pantau"):
            row["to_baseline"] = row["readings_per_s"] / median[("baseline", channels)]
        if ("node-red", channels) in median and row["flow"].startswith("pantau"):
            row["to_node_red"] = row["readings_per_s"] / median[("node-red", channels)]  # issue 18: >= 1.5
        if row["flow"].startswith("pantau x") and ("pantau x1 v5", channels) in median:
            row["to_one_worker"] = row["readings_per_s"] / median[("pantau x1 v5", channels)]
    return rows


def environment(*, node_red: bool = False) -> dict[str, str]:
    """The machine and the versions; `node_red` installs Node-RED first if need be (bench/nodered.py), so
    a missing npm stops the bench before it has measured anything."""

    def version(package: str) -> str:
        return metadata.version(package)

    def first_line(command: list[str]) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        return (done.stdout or done.stderr).strip().splitlines()[0]

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "load_before": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "python": platform.python_version(),
        "mosquitto": first_line([require_binary("mosquitto", "mosquitto"), "-h"]),
        "influxd": first_line([require_binary("influxd", "influxdb"), "version"]),
        "packages": ", ".join(
            f"{p} {version(p)}"
            for p in ("paho-mqtt", "aiomqtt", "pydantic", "pydantic-core", "orjson", "httpx")
        ),
    } | ({"node-red": ", ".join(f"{name} {v}" for name, v in nodered.install().items())} if node_red else {})


COLUMNS = (
    "flow", "readings/msg", "workers", "readings/s (median)", "range", "/ ceiling", "/ raw LP", "/ 1 worker",
    "/ baseline", "/ node-red", "worker CPU s/1k", "influxd CPU s/1k", "mosquitto CPU s/1k",
)  # fmt: skip


def report_markdown(
    env: dict[str, str],
    rows: list[dict[str, Any]],
    stage_rows: dict[int, list[tuple[str, float]]],
    messages: int,
    failures: list[str],
) -> str:
    out = [f"# Backend ingest bench, {env['date']}", ""]
    out += [f"- {key}: {value}" for key, value in env.items() if key != "date"]
    out += [
        f"- drain of {messages:,} pre-queued messages per flow; median of the rounds, range in brackets",
        "",
    ]
    out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:

        def ratio(key: str, row: dict[str, Any] = row) -> str:
            return f"{row[key]:.2f}" if key in row else ""

        cpu = f"{row['worker_cpu_s_per_1k']:.3f}" if row["worker_cpu_s_per_1k"] is not None else ""
        out.append(
            f"| {row['flow']} | {row['channels']} | {row['workers'] or ''} | {row['readings_per_s']:,.0f} | "
            f"{row['min']:,.0f}-{row['max']:,.0f} | {ratio('to_ceiling')} | {ratio('to_raw_lp')} | "
            f"{ratio('to_one_worker')} | {ratio('to_baseline')} | {ratio('to_node_red')} | {cpu} | "
            f"{row['influxd_cpu_s_per_1k']:.3f} | {row['mosquitto_cpu_s_per_1k']:.3f} |"
        )
    if failures:
        out += ["", "Failed runs (left out of the figures):", ""]
        out += [f"- {failure}" for failure in failures]
    for channels, stage_list in stage_rows.items():
        out += ["", f"CPU per message by stage, {channels} readings/msg (µs, in-process, best of 3):", ""]
        out += [f"- {name}: {micros:.1f}" for name, micros in stage_list]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000, help="messages per flow (default 100,000)")
    parser.add_argument("--channels", type=int, nargs="+", default=[2, 10], help="readings per message")
    parser.add_argument("--rounds", type=int, default=2, help="repetitions of every flow (default 2)")
    workers_help = "shared-subscription worker counts, at the first --channels only (default 1 2 4)"
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4], help=workers_help)
    baseline_help = "another pantau source tree (e.g. main before a change), run as one more flow"
    parser.add_argument("--baseline", type=Path, help=baseline_help)
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help=f"folder for <date>-backend.md and .json (default {RESULTS})",
    )
    parser.add_argument("--profile", action="store_true", help="add a cProfile of one worker's drain")
    parser.add_argument(
        "--node-red",
        action="store_true",
        help="add Node-RED (mqtt in -> function -> influxdb batch) at the first --channels (npm installs it)",
    )
    args = parser.parse_args()
    env = environment(node_red=args.node_red)
    profile = ""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mqtt", require_binary("mosquitto", "mosquitto"))
        influxd = Influxd(work / "influx", require_binary("influxd", "influxdb"))
        for service in (broker, influxd):
            start_with_port_retries(service)
        bench = Bench(broker, influxd, work, args.messages)
        try:
            for channels in args.channels:
                messages = payloads(args.messages, channels)
                for round_ in range(args.rounds):
                    bench.ceiling(messages, channels, round_)
                    bench.raw_line_protocol(messages, channels, round_)
                    # Baseline and this build in turns, so neither always runs second on a warming machine.
                    pair = [args.baseline, None] if args.baseline else [None]
                    for code_root in pair if round_ % 2 == 0 else pair[::-1]:
                        bench.pantau(messages, channels, round_, 1, v5=False, code_root=code_root)
                    if channels == args.channels[0]:
                        for workers in args.workers:
                            bench.pantau(messages, channels, round_, workers, v5=True)
                        if args.node_red:
                            bench.node_red(messages, channels, round_)
            if args.profile:
                profile = profiled(broker, influxd, work, payloads(args.messages, args.channels[0]))
        finally:
            broker.stop()
            influxd.stop()
    stage_rows = {channels: stages(payloads(STAGE_MESSAGES, channels)) for channels in args.channels}
    rows = summarize(bench.runs)
    text = report_markdown(env, rows, stage_rows, args.messages, bench.failures)
    if args.profile:
        text += f"\nProfile of one worker draining {args.messages:,} messages of {args.channels[0]} readings"
        text += " (cProfile, in-process, event loop thread):\n\n```\n" + profile + "\n```\n"
    print("\n" + text)
    if args.out:  # an empty --out "" writes nothing
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.out / f"{datetime.now(UTC):%Y-%m-%d}-backend"
        stem.with_suffix(".md").write_text(text)
        document = {
            "environment": env,
            "summary": rows,
            "runs": [asdict(run) | {"readings_per_s": run.rate} for run in bench.runs],
            "stages_us_per_message": stage_rows,
            "failures": bench.failures,
        }
        stem.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")
        print(f"written: {stem}.md, {stem}.json")


if __name__ == "__main__":
    main()
