"""End-to-end latency benchmark: from a register read to the row visible in InfluxDB, and to the alert
published, at 1,000 readings/s.

The load (issue #18): 10 Modbus TCP units x 10 holding registers every 100 ms, simulated in a process of
their own (each register a level that moves on every read: every channel crosses the alert threshold
about once a second, some 100 firing and 100 resolved transitions a second, far more alert traffic than a
river makes); `pantau gateway run` (shipped defaults: QoS 1, the outbox, end-to-end
receipts); a real mosquitto; `pantau backend run` with shipped ingest and writer defaults into a real
influxd and the rules service evaluating one `levels` rule (trigger 6.00 m, clear 5.00 m, no pending or
hold time) over all 100 channels.

Measured for `--seconds` after a warm-up:
  * row visible: InfluxDB is asked every `--poll-ms` for the newest rows of one channel of every device (a
    10 % sample, 100 readings/s) and each new row's latency is the moment it was first seen minus the
    reading's timestamp (stamped by the gateway when it read the register). The poll adds up to its
    interval (half of it on average) to each figure: the report says so;
  * alert published: each alert transition a subscriber receives on `pantau/v1/alerts/#`, its arrival
    minus the timestamp of the reading that caused it (the transition's `ts`).
Every clock read is this machine's, so no skew enters the figures. Goals: p99 < 2 s (row) and < 250 ms
(alert).

Run: `make bench` or `python -m bench.e2e_latency [--seconds 30] [--rounds 2]`.
Results: bench/results/<date>-e2e.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend.config import BackendConfig
from bench.gateway_cpu import (
    HERE,
    REGISTERS,
    UNITS,
    cpu_seconds,
    machine,
    simulated_devices,
    site_file,
    versions,
)
from bench.report_files import write_report
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto
from tests.harness.pantau_processes import BackendProcess, GatewayProcess
from tests.harness.process import start_with_port_retries

RESULTS: Final = HERE / "results"
GOAL_P99_S: Final = {"row visible": 2.0, "alert published": 0.25}
WARMUP_S: Final = 6.0
DATABASE: Final = "pantau"
ROUND_HEADER: Final = (
    "| round | row p50 s | row p99 s | rows not seen | alert p50 s | alert p99 s | alerts | backend CPU"
    " | gateway CPU |"
)
RULES: Final = """\
language: en
rules:
  - id: bench-level
    kind: levels
    select: {site: bench-site, device: "d*", channel: "l*"}
    unit: m
    levels:
      - {name: Siaga, trigger: 6.0, clear: 5.0}
"""


@dataclass
class Round:
    round: int
    rows: list[float] = field(default_factory=list)
    alerts: list[float] = field(default_factory=list)
    #: Rows of the sample that were never seen within the poll's look-back (counted, never silently lost).
    rows_missed: int = 0
    backend_cpu_s: float = 0.0
    gateway_cpu_s: float = 0.0
    seconds: float = 0.0


def spread(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"count": len(values), "p50": values[0] if values else float("nan"), "p99": float("nan")}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"count": len(values), "p50": cuts[49], "p99": cuts[98], "max": max(values)}


class AlertWatch:
    """Alert transitions arriving on the broker: arrival minus the causing reading's timestamp."""

    def __init__(self, broker: Mosquitto) -> None:
        self.latencies: list[tuple[float, float]] = []  # (reading ts, latency)
        self.states: dict[str, int] = {}
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-e2e-alerts")
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.subscribe("pantau/v1/alerts/#", qos=1)
        self._client.loop_start()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        arrived = time.time()
        if message.retain or not message.payload:
            return  # a retained transition is an earlier one's, given to a new subscriber
        document = json.loads(message.payload)
        stamped = datetime.fromisoformat(document["ts"]).timestamp()
        with self._lock:
            self.latencies.append((stamped, arrived - stamped))
            self.states[document["state"]] = self.states.get(document["state"], 0) + 1

    def between(self, start: float, end: float) -> list[float]:
        with self._lock:
            return [latency for stamped, latency in self.latencies if start <= stamped < end]

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class RowWatch:
    """Polls InfluxDB for the newest rows of channel l0 of every device; notes when each was first seen."""

    def __init__(self, influxd: Influxd, interval_s: float, lookback_s: float = 5.0) -> None:
        self.seen: dict[tuple[str, int], float] = {}  # (device, time ns) -> first seen
        self._url, self._interval, self._lookback = influxd.url, interval_s, lookback_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="row-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        query = (
            f'SELECT "value" FROM "{DATABASE}"."pantau_raw"."reading" WHERE "channel" = \'l0\' '  # noqa: S608 - constants
            f'AND time > now() - {int(self._lookback * 1000)}ms GROUP BY "device"'
        )
        with httpx.Client(base_url=self._url, timeout=10) as http:
            while not self._stop.wait(self._interval):
                try:
                    answer = http.get("/query", params={"db": DATABASE, "q": query, "epoch": "ns"})
                except httpx.HTTPError:
                    continue
                seen_at = time.time()
                for result in answer.json().get("results", []):
                    for series in result.get("series", []):
                        device = series["tags"]["device"]
                        for row in series["values"]:
                            self.seen.setdefault((device, row[0]), seen_at)

    def between(self, start: float, end: float) -> list[float]:
        return [
            at - stamped_ns / 1e9
            for (_device, stamped_ns), at in list(self.seen.items())
            if start <= stamped_ns / 1e9 < end
        ]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(15)


def backend_config(workdir: Path, broker: Mosquitto, influxd: Influxd, sites: Path) -> BackendConfig:
    rules = workdir / "rules.yaml"
    rules.write_text(RULES)
    return BackendConfig.model_validate({
        "worker_id": "bench-e2e",
        "mqtt": {"host": broker.host, "port": broker.port},
        "storage": {"influx": {"url": influxd.url, "database": DATABASE}},
        "spool": {"path": str(workdir / "spool.sqlite3")},
        "sites": str(sites),
        "rules": {"file": str(rules), "state": str(workdir / "rules.sqlite3")},
    })  # fmt: skip


def main() -> None:  # noqa: PLR0915 - one bench, start to end
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per round")
    parser.add_argument("--poll-ms", type=float, default=50.0, help="how often InfluxDB is asked")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    mosquitto = require_binary("mosquitto", "mosquitto")
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "mosquitto", mosquitto)
        influxd = Influxd(workdir / "influx", require_binary("influxd", "influxdb"))
        for service in (broker, influxd):
            start_with_port_retries(service)
        try:
            with simulated_devices(workdir) as modbus_port:
                sites = workdir / "sites"
                sites.mkdir()
                site = site_file(sites, modbus_port, broker)
                backend = BackendProcess(workdir / "backend", backend_config(workdir, broker, influxd, sites))
                gateway = GatewayProcess(workdir / "gateway", site)
                for round_ in range(args.rounds):
                    for leftover in sites.glob("outbox.db*"):
                        leftover.unlink()
                    alerts, rows = AlertWatch(broker), RowWatch(influxd, args.poll_ms / 1000)
                    backend.start()
                    gateway.start()
                    try:
                        time.sleep(WARMUP_S)
                        cpu0 = (cpu_seconds(backend.pid), cpu_seconds(gateway.pid))
                        start = time.time()
                        time.sleep(args.seconds)
                        end = time.time()
                        cpu1 = (cpu_seconds(backend.pid), cpu_seconds(gateway.pid))
                        time.sleep(3.0)  # the last readings of the window reach storage and rules
                    finally:
                        gateway.stop()
                        backend.stop()
                        alerts.close()
                        rows.close()
                    print(f"  alert transitions by state: {alerts.states}", flush=True)
                    measured = Round(round_ + 1, seconds=end - start)
                    measured.rows = rows.between(start, end)
                    measured.alerts = alerts.between(start, end)
                    # 10 devices, channel l0, one reading every 100 ms each: what the window should hold
                    measured.rows_missed = max(0, int(UNITS * 10 * (end - start)) - len(measured.rows))
                    measured.backend_cpu_s, measured.gateway_cpu_s = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
                    rounds.append(measured)
                    row, alert = spread(measured.rows), spread(measured.alerts)
                    print(
                        f"round {round_ + 1}: row visible p50 {row['p50']:.3f} s p99 {row['p99']:.3f} s"
                        f" ({row['count']} rows, {measured.rows_missed} not seen); alert published p50"
                        f" {alert['p50']:.3f} s p99 {alert['p99']:.3f} s ({alert['count']} transitions)",
                        flush=True,
                    )
        finally:
            broker.stop()
            influxd.stop()
        report = build_report(rounds, args, versions(mosquitto))
    write(report, args.out)


def build_report(rounds: list[Round], args: argparse.Namespace, found: dict[str, str]) -> dict[str, Any]:
    every_row = [v for r in rounds for v in r.rows]
    every_alert = [v for r in rounds for v in r.alerts]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": found,
        "load": f"{UNITS} Modbus TCP units x {REGISTERS} holding registers every 100 ms (1,000 readings/s)",
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "poll_ms": args.poll_ms,
        "goals_p99_s": GOAL_P99_S,
        "row visible": spread(every_row),
        "alert published": spread(every_alert),
        "per_round": [
            {
                "round": r.round,
                "row visible": spread(r.rows),
                "alert published": spread(r.alerts),
                "rows_missed": r.rows_missed,
                "backend_cpu_share": r.backend_cpu_s / r.seconds,
                "gateway_cpu_share": r.gateway_cpu_s / r.seconds,
            }
            for r in rounds
        ],
    }


def _verdict(p99: float, goal: float) -> str:
    if p99 != p99:  # noqa: PLR0124 - NaN: too few to say
        return "too few to say"
    return "met" if p99 < goal else f"not met ({p99 / goal:.2f}x the goal)"


def markdown(report: dict[str, Any]) -> str:
    found = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    lines = [
        f"# End-to-end latency bench, {report['date']}",
        "",
        f"Machine: {report['machine']}. Versions: {found}.",
        "",
        (
            f"Load: {report['load']}: simulated devices, `pantau gateway run` (shipped defaults), mosquitto, "
            "`pantau backend run` (shipped ingest and writer defaults, the rules service with one levels "
            "rule over all 100 channels) into influxd, all on loopback. "
            f"{report['rounds']} rounds of {report['seconds_per_round']:g} s after a {WARMUP_S:g} s warm-up. "
            "Latency = when it was seen minus the reading's timestamp (the gateway stamps it at the register "
            f"read). Rows: a 10 % sample (channel l0 of every device), InfluxDB asked every "
            f"{report['poll_ms']:g} ms, which adds up to that (half on average) to each row's figure."
        ),
        "",
        "| from register read to | count | p50 s | p99 s | max s | goal p99 | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for what, goal in report["goals_p99_s"].items():
        s = report[what]
        lines.append(
            f"| {what} | {s['count']:,} | {s['p50']:.3f} | {s['p99']:.3f} | {s.get('max', float('nan')):.3f}"
            f" | < {goal:g} s | {_verdict(s['p99'], goal)} |"
        )
    lines += [
        "",
        ROUND_HEADER,
    ]
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in report["per_round"]:
        row, alert = r["row visible"], r["alert published"]
        lines.append(
            f"| {r['round']} | {row['p50']:.3f} | {row['p99']:.3f} | {r['rows_missed']} | {alert['p50']:.3f}"
            f" | {alert['p99']:.3f} | {alert['count']} | {r['backend_cpu_share']:.0%} of a core"
            f" | {r['gateway_cpu_share']:.0%} of a core |"
        )
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> None:
    write_report(report, out, "e2e", markdown)


if __name__ == "__main__":
    main()
