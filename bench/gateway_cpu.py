"""Gateway CPU and memory against the floor of a bare polling loop, side by side in one invocation.

The load (issue #18): 10 Modbus TCP units x 10 holding registers every 100 ms on one bus, served by a real
pymodbus server in a process of its own; a real mosquitto on loopback. Two contenders, each a process of
its own, measured alike:
  * bare   — pymodbus + aiomqtt, the same reads, one JSON message per unit per poll, QoS 0, no outbox
             (bench/gateway/bare_loop.py): the floor;
  * pantau — `pantau gateway run` with a site file for that bus, shipped defaults (QoS 1, the outbox on,
             quality flags, device status).
For each: process CPU seconds (user + system, from /proc, the gateway process only) per 1,000 values seen
by a subscriber on the broker, values per second delivered, and peak RSS (VmHWM). Every round runs both,
in alternating order; the report gives the median and range over the rounds and pantau's ratio to the
bare loop of the same rounds. It also lists what the gateway process imported, and with `--cprofile`
adds a cProfile of one extra pantau run (where the time goes); with `--baseline DIR`, another source tree
(main before a change) runs as a third contender in the same rounds: an A/B on the same machine state.

Run: `make bench` or `python -m bench.gateway_cpu [--rounds 3] [--seconds 15] [--cprofile] [--baseline DIR]`.
Results: bench/results/<date>-gateway.md and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.report_files import write_report
from tests.harness.binaries import require_binary
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port, port_open, start_with_port_retries, wait_until

UNITS: Final = 10
REGISTERS: Final = 10
INTERVAL_S: Final = 0.1
WARMUP_S: Final = 4.0
HERE: Final = Path(__file__).resolve().parent
RESULTS: Final = HERE / "results"
#: Packages a gateway has no use for: each one in its process is memory for nothing.
NOT_FOR_A_GATEWAY: Final = ("fastapi", "starlette", "uvicorn", "httpx", "grafana_client", "amqtt", "jinja2")
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    contender: str
    cpu_s: float
    #: Of cpu_s, the main thread's (the event loop); the rest is worker threads (SQLite calls, metrics).
    loop_cpu_s: float
    values: int
    seconds: float
    peak_rss_mb: float
    #: Resident memory at the end of the run: what the steady state holds (the peak may be start-up's).
    end_rss_mb: float

    @property
    def cpu_per_1k(self) -> float:
        return self.cpu_s / self.values * 1000 if self.values else float("inf")

    @property
    def values_per_s(self) -> float:
        return self.values / self.seconds


class ValueCounter:
    """Counts the values arriving on the broker (a readings message's channels, the bare loop's values)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.values = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-counter")
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.subscribe([("pantau/v1/+/+/readings", 0), ("bare/v1/+/+/readings", 0)])
        self._client.loop_start()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        document = json.loads(message.payload)
        count = len(document.get("channels") or document.get("values") or ())
        with self._lock:
            self.values += count

    def read(self) -> int:
        with self._lock:
            return self.values

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """CPU time of process `pid`, or of its thread `tid` alone."""
    stat = Path(f"/proc/{pid}/stat") if tid is None else Path(f"/proc/{pid}/task/{tid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14 and 15)


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak resident memory (VmHWM), or with field="VmRSS" the current one."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def site_file(workdir: Path, modbus_port: int, broker: Mosquitto) -> Path:
    devices = "\n".join(
        f"      - {{id: d{unit}, profile: {HERE / 'gateway' / 'bench-ten-levels.yaml'}, unit: {unit},"
        f" poll_interval: {int(INTERVAL_S * 1000)}ms}}"
        for unit in range(1, UNITS + 1)
    )
    path = workdir / "bench-site.yaml"
    path.write_text(
        f"""site: bench-site
name: Gateway benchmark
kind: river_gauge
location: {{lat: -1.25, lon: 116.86}}
gateway: gw-bench
mqtt: {{host: {broker.host}, port: {broker.port}}}
outbox: {{path: {workdir / "outbox.db"}}}
buses:
  - id: tcp-1
    kind: modbus
    connection: {{transport: tcp, host: 127.0.0.1, port: {modbus_port}}}
    devices:
{devices}
"""
    )
    return path


@contextlib.contextmanager
def process(command: list[str], log: Path, source: Path = HERE.parent) -> Iterator[subprocess.Popen[bytes]]:
    """`command` run from the source tree `source` (its packages first on the path)."""
    env = os.environ | {"PYTHONPATH": str(source)}
    with log.open("ab") as out:
        child = subprocess.Popen(  # noqa: S603 - our own commands
            command, stdout=out, stderr=subprocess.STDOUT, cwd=source, env=env
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


@contextlib.contextmanager
def simulated_devices(workdir: Path) -> Iterator[int]:
    """The UNITS x REGISTERS simulated Modbus TCP units in a process of their own, listening; their port."""
    port = free_port()
    command = [sys.executable, "-m", "bench.gateway.devices", str(port), str(UNITS), str(REGISTERS)]
    with process(command, workdir / "devices.log"):
        if not wait_until(lambda: port_open("127.0.0.1", port), 20):
            raise RuntimeError(f"simulated devices did not listen:\n{(workdir / 'devices.log').read_text()}")
        yield port


def measure(
    contender: str,
    command: list[str],
    counter: ValueCounter,
    seconds: float,
    log: Path,
    *,
    source: Path = HERE.parent,
    profiled: bool = False,
) -> Run:
    with process(command, log, source) as child:
        time.sleep(WARMUP_S)  # imports, connections, the first polls: not the steady state being measured
        if child.poll() is not None:
            raise RuntimeError(
                f"{contender} exited early (status {child.returncode}):\n{log.read_text()[-3000:]}"
            )
        if profiled:
            child.send_signal(signal.SIGUSR1)
        loop0, cpu0, values0, t0 = (
            cpu_seconds(child.pid, child.pid),
            cpu_seconds(child.pid),
            counter.read(),
            time.monotonic(),
        )
        time.sleep(seconds)
        loop1, cpu1, values1, t1 = (
            cpu_seconds(child.pid, child.pid),
            cpu_seconds(child.pid),
            counter.read(),
            time.monotonic(),
        )
        rss, end_rss = peak_rss_mb(child.pid), peak_rss_mb(child.pid, "VmRSS")
        if profiled:
            child.send_signal(signal.SIGUSR2)
            time.sleep(1.0)  # the profile is written by the child's main thread
    return Run(contender, cpu1 - cpu0, loop1 - loop0, values1 - values0, t1 - t0, rss, end_rss)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def versions(mosquitto: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("pymodbus", "aiomqtt", "paho-mqtt", "pydantic", "pydantic-core"):
        found[package] = metadata.version(package)
    banner = subprocess.run([mosquitto, "-h"], capture_output=True, text=True, check=False).stdout  # noqa: S603
    found["mosquitto"] = banner.splitlines()[0].removeprefix("mosquitto version ") if banner else "?"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - whichever git the developer runs
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607 - as above
        capture_output=True,
        text=True,
        check=False,
    )
    # What ran is the working tree: say so when it is not the commit (a shared checkout often is not).
    found["pantau commit"] = (commit.stdout.strip() or "?") + (
        " + uncommitted changes" if dirty.stdout else ""
    )
    return found


def _commit(tree: Path) -> str:
    """The commit a source tree was taken from, if it says (a `git archive` writes none): its COMMIT file."""
    marker = tree / "COMMIT"
    return marker.read_text().strip() if marker.is_file() else "commit not recorded"


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}"


def profile_text(path: Path, top: int = 30) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue().replace(str(HERE.parent) + "/", "").replace(sys.prefix + "/", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--cprofile", action="store_true", help="also profile one pantau run (cProfile)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another pantau source tree (say main before a change: git archive ... | tar -x -C DIR), "
        "run as a third contender in the same rounds",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    binary = require_binary("mosquitto", "mosquitto")
    python = sys.executable
    runs: list[Run] = []
    modules: list[str] = []
    profile = ""
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "mosquitto", binary)
        start_with_port_retries(broker)
        with simulated_devices(workdir) as modbus_port:
            counter = ValueCounter(broker)
            site = site_file(workdir, modbus_port, broker)
            bare_cmd = [
                *(python, "-m", "bench.gateway.bare_loop", str(modbus_port), str(broker.port)),
                *(str(UNITS), str(REGISTERS), str(INTERVAL_S)),
            ]

            def pantau_cmd(extra: tuple[str, ...] = (), modules: str = "modules.txt") -> list[str]:
                (workdir / "outbox.db").unlink(missing_ok=True)
                # The launcher by path: a baseline tree has a bench/ of its own, without it.
                launcher = str(HERE / "gateway" / "launch.py")
                return [
                    *(python, launcher, str(workdir / modules), *extra, "--"),
                    *("--log-level", "warning", "gateway", "run", "--config", str(site)),
                    *("--metrics", f"127.0.0.1:{free_port()}"),
                ]

            try:
                contenders = ["bare", "pantau", *(["baseline"] if args.baseline else [])]
                for round_ in range(args.rounds):
                    # Alternating order, so a slow spell of the shared machine does not fall on one side.
                    order = contenders if round_ % 2 == 0 else contenders[::-1]
                    for contender in order:
                        command = {
                            "bare": bare_cmd,
                            "pantau": pantau_cmd(),
                            "baseline": pantau_cmd(modules="baseline-modules.txt"),
                        }[contender]
                        source = args.baseline if contender == "baseline" else HERE.parent
                        log = workdir / f"{contender}.log"
                        run = measure(contender, command, counter, args.seconds, log, source=source)
                        runs.append(run)
                        print(
                            f"round {round_ + 1} {contender:<8} {run.cpu_per_1k:.4f} CPU s/1k values"
                            f" ({run.loop_cpu_s / run.cpu_s:.0%} in the event loop)"
                            f"  {run.values_per_s:7.1f} values/s  peak RSS {run.peak_rss_mb:5.1f} MB"
                            f" (at the end {run.end_rss_mb:5.1f} MB)",
                            flush=True,
                        )
                modules = (workdir / "modules.txt").read_text().split()
                if args.cprofile:
                    stats = workdir / "gateway.prof"
                    measure(
                        "pantau",
                        pantau_cmd(("--cprofile", str(stats))),
                        counter,
                        args.seconds,
                        workdir / "p.log",
                        profiled=True,
                    )
                    profile = profile_text(stats)
                    kept = Path(tempfile.gettempdir()) / "pantau-gateway.prof"
                    kept.write_bytes(stats.read_bytes())
                    print(f"profile kept for pstats: {kept}")
            finally:
                counter.close()
                broker.stop()
        report = build_report(runs, modules, profile, versions(binary), args)
    write(report, args.out)


def build_report(
    runs: list[Run], modules: list[str], profile: str, found: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    contenders = ("bare", "pantau", "baseline") if args.baseline else ("bare", "pantau")
    by = {c: [r for r in runs if r.contender == c] for c in contenders}

    def ratio_to_bare(contender: str) -> dict[str, float]:
        pairs = zip(by[contender], by["bare"], strict=True)
        return summary([c.cpu_per_1k / b.cpu_per_1k for c, b in pairs])

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": found,
        "load": f"{UNITS} Modbus TCP units x {REGISTERS} holding registers every {INTERVAL_S * 1000:.0f} ms",
        "rounds": args.rounds,
        "seconds_per_run": args.seconds,
        "runs": [asdict(r) | {"cpu_per_1k": r.cpu_per_1k, "values_per_s": r.values_per_s} for r in runs],
        "cpu_per_1k": {c: summary([r.cpu_per_1k for r in rs]) for c, rs in by.items()},
        "values_per_s": {c: summary([r.values_per_s for r in rs]) for c, rs in by.items()},
        "peak_rss_mb": {c: summary([r.peak_rss_mb for r in rs]) for c, rs in by.items()},
        "ratio_cpu_pantau_to_bare": ratio_to_bare("pantau"),
        "ratio_cpu_baseline_to_bare": ratio_to_bare("baseline") if args.baseline else None,
        "baseline": f"{args.baseline} ({_commit(args.baseline)})" if args.baseline else None,
        "loop_share": {c: sum(r.loop_cpu_s for r in rs) / sum(r.cpu_s for r in rs) for c, rs in by.items()},
        "goals": {"ratio_cpu": 1.1, "peak_rss_mb": 50},
        "gateway_imports": modules,
        "gateway_imports_not_needed": [m for m in NOT_FOR_A_GATEWAY if m in modules],
        "cprofile_steady_state": profile,
    }


def _range(s: dict[str, float], fmt: str) -> str:
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def markdown(report: dict[str, Any]) -> str:
    cpu, rate, rss = report["cpu_per_1k"], report["values_per_s"], report["peak_rss_mb"]
    ratio = report["ratio_cpu_pantau_to_bare"]
    imports, unneeded = report["gateway_imports"], report["gateway_imports_not_needed"]
    found = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    rows = [
        ("bare pymodbus + aiomqtt loop (QoS 0, no outbox)", "bare"),
        ("pantau gateway (QoS 1, outbox on)", "pantau"),
    ]
    if report["baseline"]:
        rows.append((f"baseline: pantau from {report['baseline']}", "baseline"))
    lines = [
        f"# Gateway benchmark, {report['date']}",
        "",
        f"Machine: {report['machine']}. Versions: {found}.",
        "",
        (
            f"Load: {report['load']}, one bus; a real mosquitto on loopback; devices in a process of their "
            f"own. {report['rounds']} rounds of {report['seconds_per_run']:g} s per contender, alternating "
            "order; median (min-max). CPU: the gateway process only (user + system)."
        ),
        "",
        "| | CPU s / 1k values | of it in the event loop | values/s delivered | peak RSS MB |",
        "|---|---|---|---|---|",
        *(
            f"| {label} | {_range(cpu[key], '.4f')} | {report['loop_share'][key]:.0%}"
            f" | {_range(rate[key], '.0f')} | {_range(rss[key], '.1f')} |"
            for label, key in rows
        ),
        (
            f"| **pantau / bare** | **{_range(ratio, '.2f')}x** (goal <= 1.1x) | | |"
            f" {rss['pantau']['median'] / rss['bare']['median']:.2f}x (goal <= 50 MB) |"
        ),
        *(
            [f"| baseline / bare | {_range(report['ratio_cpu_baseline_to_bare'], '.2f')}x | | | |"]
            if report["baseline"]
            else []
        ),
        "",
        f"Packages the gateway process imported ({len(imports)}): {' '.join(imports)}.",
        "",
        f"Of those, packages a gateway has no use for: {', '.join(unneeded) or 'none'}.",
    ]
    if report["cprofile_steady_state"]:
        lines += [
            "",
            "## cProfile of one more pantau run, steady state, event loop thread (own time, then cumulative)",
            "",
            "```",
            report["cprofile_steady_state"].strip(),
            "```",
        ]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> None:
    write_report(report, out, "gateway", markdown)


if __name__ == "__main__":
    main()
