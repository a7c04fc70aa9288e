"""Outbox replay benchmark: how fast a gateway's backlog reaches the broker after an outage, and how late the
live readings are meanwhile.

The load (issue #18): 10 Modbus TCP units x 10 holding registers every 100 ms (1,000 live readings/s) from
simulated devices in a process of their own, polled by `pantau gateway run`; a real mosquitto on loopback
with persistence. Each round:
  1. a subscriber (QoS 1, persistent session) counts what arrives, from start to end;
  2. the broker stops; the gateway's outbox is given a backlog of `--backlog` readings messages (10
     readings each) through the gateway's own Outbox, the messages a long outage leaves;
  3. the gateway starts and polls for `--outage` seconds with the broker still down (live readings join
     the backlog), then the broker comes back on the same port.
Measured: the replay rate (readings of messages stamped before the broker came back, from the first of them
to arrive to the last), the delay before the gateway was back (its reconnect back-off), how late the live
readings (stamped after the broker came back) arrived while the backlog drained and after it (arrival time
minus the reading's own timestamp, both this machine's clock), the gateway's CPU while it replayed, and
that no backlog message was lost or arrived twice.

Two contenders alternate per round: the shipped `mqtt.replay_rate` (200 messages/s) and a replay rate of
`--fast-rate` messages/s (default 5,000), which shows what the publisher itself can do. `await_receipts`
is off: no backend reads this broker (receipts are the backend's; see docs/contract.md).

Run: `make bench` or `python -m bench.outbox_replay [--rounds 2] [--backlog 20000]`.
Results: bench/results/<date>-replay.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.gateway_cpu import (
    HERE,
    REGISTERS,
    UNITS,
    cpu_seconds,
    machine,
    process,
    simulated_devices,
    site_file,
    versions,
)
from bench.report_files import write_report
from gateway.outbox import Outbox
from pantau.contract import Reading, Readings, Topics, encode
from tests.harness.binaries import require_binary
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port, start_with_port_retries

RESULTS: Final = HERE / "results"
SITE: Final = "bench-site"
GATEWAY: Final = "gw-bench"
SHIPPED_RATE: Final = 200.0
GOAL_REPLAY_READINGS_S: Final = 20_000
GOAL_LIVE_LATE_S: Final = 1.0
#: Backlog messages stored per transaction while filling (the gateway stores one poll cycle per one).
FILL_CHUNK: Final = 1000
#: After the backlog is through, live readings are watched this long more.
TAIL_S: Final = 3.0


@dataclass
class Arrival:
    seq: int
    readings: int
    stamped: float
    arrived: float


class Counter:
    """Every readings message arriving on the broker, with its seq, timestamp and arrival time."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        self.arrivals: list[Arrival] = []
        self._client_id, self._host, self._port = client_id, broker.host, broker.port
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._subscribed = threading.Event()
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the counting subscriber could not subscribe")

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, _rc: object, _p: object) -> None:
        client.subscribe("pantau/v1/+/+/readings", qos=1)
        self._subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        arrived = time.time()
        document = json.loads(message.payload)
        stamped = datetime.fromisoformat(document["ts"]).timestamp()
        arrival = Arrival(document["seq"], len(document["channels"]), stamped, arrived)
        with self._lock:
            self.arrivals.append(arrival)

    def snapshot(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)

    def pause(self) -> None:
        """Before the broker stops: no reconnect back-off of paho's own then delays the arrivals."""
        self._client.loop_stop()

    def resume(self) -> None:
        """Right after the broker is back (its persisted session kept what came meanwhile)."""
        self._client.reconnect()
        self._client.loop_start()

    def close(self) -> None:
        """Disconnect and discard the session (left, it would queue a copy of every later round's)."""
        self._client.disconnect()
        self._client.loop_stop()
        dropper = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, clean_session=True)
        dropper.connect(self._host, self._port)
        dropper.loop_start()
        time.sleep(0.2)  # the CONNACK, and with it the discarded session, on loopback
        dropper.loop_stop()
        dropper.disconnect()


@dataclass
class Run:
    contender: str
    replay_rate_setting: float
    backlog_messages: int
    backlog_readings: int
    replay_seconds: float
    reconnect_s: float
    lost: int
    duplicates: int
    live_during: list[float] = field(repr=False)
    live_after: list[float] = field(repr=False)
    gateway_cpu_s: float = 0.0

    @property
    def readings_per_s(self) -> float:
        return self.backlog_readings / self.replay_seconds if self.replay_seconds > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in {"live_during", "live_after"}}
        out["readings_per_s"] = self.readings_per_s
        out["live_late_during"] = late(self.live_during)
        out["live_late_after"] = late(self.live_after)
        out["gateway_cpu_per_1k_replayed"] = self.gateway_cpu_s / self.backlog_readings * 1000
        return out


def late(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"count": len(values), "p50": values[0] if values else float("nan"), "p99": float("nan")}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"count": len(values), "p50": cuts[49], "p99": cuts[98], "max": max(values)}


def fill_backlog(path: Path, messages: int, ending: float) -> set[int]:
    """`messages` readings messages in the gateway's outbox, stamped 10 ms apart up to `ending`, through the
    gateway's own Outbox (sequence numbers allotted by it, one durable transaction per chunk); returns the
    sequence numbers."""
    outbox = Outbox(path)
    seqs: set[int] = set()
    start = ending - messages * 0.01
    try:
        for chunk in range(0, messages, FILL_CHUNK):

            def builder(index: int) -> Any:
                unit = index % UNITS + 1
                ts = datetime.fromtimestamp(start + index * 0.01, UTC)

                def build(seq: int) -> tuple[str, bytes, bool]:
                    message = Readings(
                        site=SITE, gateway=GATEWAY, seq=seq, ts=ts, device=f"d{unit}",
                        channels={f"l{c}": Reading(value=round(1 + (index + c) % 100 / 10, 2), unit="m")
                                  for c in range(REGISTERS)},
                    )  # fmt: skip
                    return Topics().readings(SITE, f"d{unit}"), encode(message), False

                return build

            stored = outbox.append([builder(i) for i in range(chunk, min(chunk + FILL_CHUNK, messages))])
            seqs.update(m.seq for m in stored)
    finally:
        outbox.close()
    return seqs


def gateway_site(workdir: Path, modbus_port: int, broker: Mosquitto, rate: float) -> Path:
    path = site_file(workdir, modbus_port, broker)
    text = path.read_text()
    connection = f"mqtt: {{host: {broker.host}, port: {broker.port}}}"
    if connection not in text:
        raise RuntimeError(f"bench/gateway_cpu.py's site file changed: no {connection!r} in it")
    path.write_text(
        text.replace(
            connection,
            f"mqtt: {{host: {broker.host}, port: {broker.port}, replay_rate: {rate}, await_receipts: false}}",
        )
    )
    return path


def one_round(  # noqa: PLR0917 - the round's knobs, passed through
    contender: str,
    rate: float,
    backlog: int,
    outage_s: float,
    broker: Mosquitto,
    workdir: Path,
    modbus_port: int,
) -> Run:
    client_id = "bench-replay-counter"
    counter = Counter(broker, client_id)
    try:
        counter.pause()
        broker.stop()  # the subscriber's session is kept (persistence), and filled again on its return
        outbox = workdir / "outbox.db"
        for leftover in workdir.glob("outbox.db*"):
            leftover.unlink()
        expected = fill_backlog(outbox, backlog, time.time() - outage_s)
        site = gateway_site(workdir, modbus_port, broker, rate)
        metrics_port = free_port()
        command = [
            *(sys.executable, "-m", "pantau", "--log-level", "warning", "gateway", "run"),
            *("--config", str(site), "--metrics", f"127.0.0.1:{metrics_port}"),
        ]
        log = workdir / f"gateway-{contender}.log"
        with process(command, log) as gateway:
            time.sleep(outage_s)
            if gateway.poll() is not None:
                raise RuntimeError(f"the gateway exited ({gateway.returncode}):\n{log.read_text()[-3000:]}")
            back = time.time()
            cpu0 = cpu_seconds(gateway.pid)
            broker.start()
            counter.resume()
            # Drained: every prefilled message arrived and nothing older than a second waits in the outbox
            # (the readings polled during the outage and until the gateway was back are backlog too).
            deadline = time.monotonic() + max(120.0, 3 * backlog / rate)
            while time.monotonic() < deadline:
                if expected <= {a.seq for a in counter.snapshot()} and oldest_queued_s(metrics_port) < 1:
                    break
                time.sleep(0.1)
            cpu1 = cpu_seconds(gateway.pid)
            time.sleep(TAIL_S)
        arrivals = counter.snapshot()
    finally:
        counter.close()
    return summarise(contender, rate, expected, back, arrivals, cpu1 - cpu0)


def oldest_queued_s(metrics_port: int) -> float:
    """The age of the oldest message in the gateway's outbox, from its metrics (inf until it answers)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return float("inf")
    for line in text.splitlines():
        if line.startswith("pantau_outbox_oldest_age_seconds "):
            return float(line.split()[1])
    return float("inf")


def summarise(  # noqa: PLR0917 - one round's facts
    contender: str, rate: float, expected: set[int], back: float, arrivals: list[Arrival], cpu: float
) -> Run:
    """Backlog: readings polled before the gateway was connected again (its first message's arrival);
    live: those polled after."""
    after = [a for a in arrivals if a.arrived >= back]
    if not after:
        raise RuntimeError(f"{contender}: nothing arrived after the broker came back")
    reconnected = min(a.arrived for a in after)
    backlog_part = [a for a in arrivals if a.stamped < reconnected]
    live = [a for a in arrivals if a.stamped >= reconnected]
    seqs = [a.seq for a in arrivals if a.seq in expected]
    lost = len(expected - set(seqs))
    duplicates = len(seqs) - len(set(seqs))
    if not backlog_part:
        raise RuntimeError(f"{contender}: nothing of the backlog arrived")
    first, last = min(a.arrived for a in backlog_part), max(a.arrived for a in backlog_part)
    return Run(
        contender=contender,
        replay_rate_setting=rate,
        backlog_messages=len(backlog_part),
        backlog_readings=sum(a.readings for a in backlog_part),
        replay_seconds=last - first,
        reconnect_s=reconnected - back,
        lost=lost,
        duplicates=duplicates,
        live_during=[a.arrived - a.stamped for a in live if a.arrived <= last],
        live_after=[a.arrived - a.stamped for a in live if a.arrived > last],
        gateway_cpu_s=cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=20_000, help="backlog messages for the fast contender")
    parser.add_argument(
        "--shipped-backlog", type=int, default=3_000, help="backlog messages at the shipped replay rate"
    )
    parser.add_argument("--fast-rate", type=float, default=5_000.0, help="replay_rate of the fast contender")
    parser.add_argument(
        "--outage", type=float, default=5.0, help="seconds the gateway polls without a broker"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    binary = require_binary("mosquitto", "mosquitto")
    contenders = [("shipped", SHIPPED_RATE, args.shipped_backlog), ("fast", args.fast_rate, args.backlog)]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "mosquitto", binary, persistence=True)
        start_with_port_retries(broker)
        try:
            with simulated_devices(workdir) as modbus_port:
                for round_ in range(args.rounds):
                    order = contenders if round_ % 2 == 0 else contenders[::-1]
                    for contender, rate, backlog in order:
                        run = one_round(contender, rate, backlog, args.outage, broker, workdir, modbus_port)
                        runs.append(run)
                        s = run.summary()
                        print(
                            f"round {round_ + 1} {contender:<8} {run.readings_per_s:9,.0f} readings/s"
                            " replayed"
                            f" ({run.backlog_readings:,} in {run.replay_seconds:.1f} s, back after"
                            f" {run.reconnect_s:.1f} s); live late p99 {s['live_late_during']['p99']:.2f} s"
                            f" during, {s['live_late_after']['p99']:.2f} s after; lost {run.lost},"
                            f" twice {run.duplicates}",
                            flush=True,
                        )
        finally:
            broker.stop()
        report = build_report(runs, args, versions(binary))
    write(report, args.out)


def build_report(runs: list[Run], args: argparse.Namespace, found: dict[str, str]) -> dict[str, Any]:
    by: dict[str, list[Run]] = {}
    for run in runs:
        by.setdefault(run.contender, []).append(run)

    def spread(values: list[float]) -> dict[str, float]:
        clean = [v for v in values if v == v]  # noqa: PLR0124 - NaN: too few live readings to say
        if not clean:
            return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
        return {"median": statistics.median(clean), "min": min(clean), "max": max(clean)}

    summaries = [r.summary() for r in runs]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": found,
        "load": f"{UNITS} Modbus TCP units x {REGISTERS} holding registers every 100 ms"
        " (1,000 readings/s live)",
        "rounds": args.rounds,
        "outage_s": args.outage,
        "goals": {"replay_readings_per_s": GOAL_REPLAY_READINGS_S, "live_late_s": GOAL_LIVE_LATE_S},
        "runs": summaries,
        "contenders": {
            name: {
                "replay_rate_setting": rs[0].replay_rate_setting,
                "readings_per_s": spread([r.readings_per_s for r in rs]),
                "reconnect_s": spread([r.reconnect_s for r in rs]),
                "live_p99_during_s": spread([late(r.live_during)["p99"] for r in rs]),
                "live_max_during_s": spread([late(r.live_during).get("max", float("nan")) for r in rs]),
                "live_p99_after_s": spread([late(r.live_after)["p99"] for r in rs]),
                "gateway_cpu_per_1k_replayed": spread(
                    [r.gateway_cpu_s / r.backlog_readings * 1000 for r in rs]
                ),
                "lost": sum(r.lost for r in rs),
                "duplicates": sum(r.duplicates for r in rs),
            }
            for name, rs in by.items()
        },
    }


def _range(s: dict[str, float], fmt: str) -> str:
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def markdown(report: dict[str, Any]) -> str:
    found = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    goals = report["goals"]
    lines = [
        f"# Outbox replay bench, {report['date']}",
        "",
        f"Machine: {report['machine']}. Versions: {found}.",
        "",
        (
            f"Load: {report['load']}; a real mosquitto on loopback. Each round the broker is down while a "
            "backlog waits in the gateway's outbox and the gateway polls on for "
            f"{report['outage_s']:g} s; then the broker comes back. {report['rounds']} rounds, contenders "
            "alternating; median (min-max). Replay rate: readings polled before the gateway was "
            "connected again (the backlog), from the first message to arrive to the last of them. "
            "Live lateness: arrival minus the reading's timestamp, for readings polled after that. "
            "'Back after': from the broker's return to the gateway's first message (its reconnect "
            "back-off). `await_receipts` off: no backend reads this broker."
        ),
        "",
        (
            "| replay_rate (msgs/s) | readings/s replayed | goal | back after s | live late p99 s (during)"
            " | live late max s (during) | live late p99 s (after) | gateway CPU s / 1k replayed | lost"
            " | twice |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, c in report["contenders"].items():
        label = f"{c['replay_rate_setting']:,.0f}" + (" (shipped)" if name == "shipped" else "")
        rate = c["readings_per_s"]["median"]
        verdict = "met" if rate >= goals["replay_readings_per_s"] else (
            f"not met ({rate / goals['replay_readings_per_s']:.2f} of it)"
        )  # fmt: skip
        lines.append(
            f"| {label} | {_range(c['readings_per_s'], ',.0f')} | >= {goals['replay_readings_per_s']:,}:"
            f" {verdict} | {_range(c['reconnect_s'], '.1f')} | {_range(c['live_p99_during_s'], '.2f')}"
            f" | {_range(c['live_max_during_s'], '.2f')} | {_range(c['live_p99_after_s'], '.2f')}"
            f" | {_range(c['gateway_cpu_per_1k_replayed'], '.3f')} | {c['lost']} | {c['duplicates']} |"
        )
    lines += ["", f"Goal for live readings during the replay: less than {goals['live_late_s']:g} s late."]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> None:
    write_report(report, out, "replay", markdown)


if __name__ == "__main__":
    main()
