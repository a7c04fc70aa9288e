"""Node-RED as a flow of bench/ingest_throughput.py (`--node-red`): the comparison of issue 18.

The usual Node-RED way of storing MQTT readings in InfluxDB 1.x, on the very payload pantau gets:

    mqtt in (QoS 1, parsed JSON) -> function (a point per channel, buffered: 5,000 points or 1 s)
        -> influxdb batch (node-red-contrib-influxdb, InfluxDB 1.x)

The points are pantau's own (backend/storage/schema.py readings_points): measurement `reading`, tags site,
device, channel, fields value, unit, quality, qc_flag, seq, gateway, time from `ts`, into the same retention
policy. One difference the library imposes: node-red-contrib-influxdb writes every number as a float (no
integer fields without a schema), so seq and qc_flag are floats here, integers in pantau. And Node-RED
acknowledges each message (PUBACK) on receipt, before anything is stored; pantau only after its spool commit.

Node-RED and the contrib node are installed with npm into var/bench/node-red (git-ignored), once. Each run
writes a user dir (settings.js, flows.json) into the bench's work folder and starts `node red.js` on it; the
MQTT client joins the persistent session the bench has filled beforehand (clean session false, fixed client
id). Node-RED's start-up (seconds) is not measured: the clock starts when its MQTT connection is established
(its "Connected to broker" log line, picked up by a logger in settings.js) and stops when InfluxDB has
acknowledged the last point (a `complete` node on the batch node counts the points of every successful
write); then InfluxDB is asked to confirm it holds them all.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

NODE_RED_SPEC = "node-red@4.1"
INFLUXDB_NODE_SPEC = "node-red-contrib-influxdb"
CACHE = Path(__file__).parents[1] / "var" / "bench" / "node-red"
CLIENT_ID = "bench-node-red"
MEASUREMENT = "reading"  # backend/storage/schema.py READING
BATCH_POINTS = 5000
FLUSH_AFTER_MS = 1000
#: Lines Node-RED prints for the bench (see settings.js below): the connection, and all points stored.
MARK = "PANTAU-BENCH"
START_TIMEOUT_S = 60.0
INSTALL_TIMEOUT_S = 600.0
#: How often InfluxDB is asked for its count while the flow runs: progress for an error message, and the
#: end of the run should the completion line never come.
POLL_S = 0.5

_QARTOD_FLAGS = {"good": 1, "suspect": 3, "bad": 4, "missing": 9, "clock_skew": 3}  # pantau.contract Quality


class NodeRedUnavailable(RuntimeError):
    """npm, node or the registry is missing: Node-RED cannot be installed or started here."""


def installed_versions(cache: Path = CACHE) -> dict[str, str] | None:
    """The versions installed in `cache`, or None if either package is missing."""
    versions = {}
    for package in ("node-red", "node-red-contrib-influxdb"):
        manifest = cache / "node_modules" / package / "package.json"
        if not manifest.is_file():
            return None
        versions[package] = json.loads(manifest.read_text())["version"]
    return versions


def install(cache: Path = CACHE, timeout: float = INSTALL_TIMEOUT_S) -> dict[str, str]:
    """Node-RED 4.1.x and node-red-contrib-influxdb in `cache` (installed with npm only if missing); their
    versions and node's. NodeRedUnavailable without node and npm, or if npm fails or exceeds `timeout` s."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise NodeRedUnavailable("node and npm are needed for the Node-RED flow")
    if installed_versions(cache) is None:
        cache.mkdir(parents=True, exist_ok=True)
        print(f"installing {NODE_RED_SPEC} and {INFLUXDB_NODE_SPEC} into {cache} (npm)", flush=True)
        command = [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--loglevel", "error"]
        # Without a registry npm would retry for minutes: fail within seconds (refused) or 30 s (silence).
        command += ["--fetch-retries", "1", "--fetch-retry-mintimeout", "2000"]
        command += ["--fetch-retry-maxtimeout", "5000", "--fetch-timeout", "30000"]
        try:
            done = subprocess.run(  # noqa: S603
                [*command, NODE_RED_SPEC, INFLUXDB_NODE_SPEC],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise NodeRedUnavailable(f"npm install took over {timeout:.0f} s") from exc
        if done.returncode != 0:
            raise NodeRedUnavailable(f"npm install failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    versions = installed_versions(cache)
    if versions is None:
        raise NodeRedUnavailable(f"npm install left no Node-RED in {cache}")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)  # noqa: S603
    return versions | {"node": node_version.stdout.strip()}


# The function node: one pantau readings message in, its points into a buffer that is sent on as one array
# (the influxdb batch node's input) at BATCH_POINTS points, or FLUSH_AFTER_MS after its first point.
_MAP_AND_BUFFER = """
const message = msg.payload;
if (message === null || typeof message !== "object" || message.kind !== "readings") {
    return null;
}
const state = context.get("state");
const at = new Date(message.ts);
const tags = {site: message.site, device: message.device};
for (const channel in message.channels) {
    const reading = message.channels[channel];
    const quality = reading.quality || "good";
    const fields = {
        quality: quality, qc_flag: FLAGS[quality] || 9, seq: message.seq, gateway: message.gateway,
    };
    if (reading.value !== undefined && reading.value !== null) { fields.value = reading.value; }
    for (const key of ["text", "unit", "reason", "detail"]) {
        if (reading[key] !== undefined && reading[key] !== null) { fields[key] = reading[key]; }
    }
    state.points.push({
        measurement: MEASUREMENT,
        tags: {site: tags.site, device: tags.device, channel: channel},
        fields: fields,
        timestamp: at,
    });
}
if (state.points.length >= BATCH_POINTS) {
    state.flush();
} else if (state.timer === null) {
    state.timer = setTimeout(state.flush, FLUSH_AFTER_MS);
}
return null;
"""

_MAP_AND_BUFFER_START = """
const state = {points: [], timer: null};
state.flush = function () {
    if (state.timer !== null) { clearTimeout(state.timer); state.timer = null; }
    if (state.points.length === 0) { return; }
    const batch = state.points;
    state.points = [];
    node.send({payload: batch});
};
context.set("state", state);
"""

_MAP_AND_BUFFER_STOP = """
const state = context.get("state");
if (state && state.timer !== null) { clearTimeout(state.timer); }
"""

# After every successful batch write (a `complete` node on the batch node): count, and say when all are in.
_COUNT = """
const stored = (context.get("stored") || 0) + msg.payload.length;
context.set("stored", stored);
if (stored >= EXPECTED && !context.get("told")) {
    context.set("told", true);
    node.warn("MARK stored " + stored);
}
return null;
"""


def flows(
    *,
    broker_port: int,
    topic_filters: list[str],
    influx_port: int,
    database: str,
    retention_policy: str,
    expected: int,
) -> list[dict[str, Any]]:
    """The flows.json: broker and InfluxDB config nodes, an mqtt in per topic filter, map + buffer, batch."""
    constants = (
        f"const FLAGS = {json.dumps(_QARTOD_FLAGS)};\nconst MEASUREMENT = {json.dumps(MEASUREMENT)};\n"
        f"const BATCH_POINTS = {BATCH_POINTS};\nconst FLUSH_AFTER_MS = {FLUSH_AFTER_MS};\n"
    )
    nodes: list[dict[str, Any]] = [
        {"id": "bench-tab", "type": "tab", "label": "pantau bench", "disabled": False, "info": ""},
        {
            "id": "bench-broker", "type": "mqtt-broker", "name": "bench broker", "broker": "127.0.0.1",
            "port": str(broker_port), "clientid": CLIENT_ID, "autoConnect": True, "usetls": False,
            "protocolVersion": "4", "keepalive": "60", "cleansession": False, "autoUnsubscribe": False,
            "birthTopic": "", "closeTopic": "", "willTopic": "", "sessionExpiry": "",
        },
        {
            "id": "bench-influxdb", "type": "influxdb", "hostname": "127.0.0.1", "port": str(influx_port),
            "protocol": "http", "database": database, "name": "bench influxd", "usetls": False, "tls": "",
            "influxdbVersion": "1.x", "url": "", "timeout": "", "rejectUnauthorized": False,
        },
        {
            "id": "bench-map", "type": "function", "z": "bench-tab", "name": "map + buffer",
            "func": constants + _MAP_AND_BUFFER, "initialize": _MAP_AND_BUFFER_START,
            "finalize": _MAP_AND_BUFFER_STOP, "outputs": 1, "timeout": 0, "noerr": 0, "libs": [],
            "x": 400, "y": 100, "wires": [["bench-batch"]],
        },
        {
            "id": "bench-batch", "type": "influxdb batch", "z": "bench-tab", "influxdb": "bench-influxdb",
            "precision": "ms", "retentionPolicy": retention_policy, "name": "", "database": "",
            "precisionV18FluxV20": "ms", "retentionPolicyV18Flux": "", "org": "", "bucket": "",
            "x": 650, "y": 100, "wires": [],
        },
        {
            "id": "bench-done", "type": "complete", "z": "bench-tab", "name": "", "scope": ["bench-batch"],
            "uncaught": False, "x": 400, "y": 200, "wires": [["bench-count"]],
        },
        {
            "id": "bench-count", "type": "function", "z": "bench-tab", "name": "count stored",
            "func": f"const EXPECTED = {expected};\n" + _COUNT.replace("MARK", MARK), "outputs": 1,
            "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": [],
            "x": 650, "y": 200, "wires": [],
        },
    ]  # fmt: skip
    for index, topic_filter in enumerate(topic_filters):
        nodes.append({
            "id": f"bench-in-{index}", "type": "mqtt in", "z": "bench-tab", "name": "", "topic": topic_filter,
            "qos": "1", "datatype": "json", "broker": "bench-broker", "nl": False, "rap": True, "rh": 0,
            "inputs": 0, "x": 150, "y": 100 + 60 * index, "wires": [["bench-map"]],
        })  # fmt: skip
    return nodes


def settings_js(user_dir: Path, ui_port: int) -> str:
    """A minimal settings.js: no editor, no HTTP nodes, no palette or projects; warnings to the console, a
    logger that prints a MARK line when the broker connection is up, and an exit should the bench vanish."""
    return f"""// Written by bench/nodered.py for one bench run; deleted after it.
// Should the bench die without stopping Node-RED (SIGKILL), Node-RED goes too, within a second.
const benchParent = process.ppid;
setInterval(function () {{ if (process.ppid !== benchParent) {{ process.exit(3); }} }}, 1000).unref();
module.exports = {{
    uiHost: "127.0.0.1",
    uiPort: {ui_port},
    httpAdminRoot: false,
    httpNodeRoot: false,
    userDir: {json.dumps(str(user_dir))},
    flowFile: "flows.json",
    flowFilePretty: false,
    credentialSecret: false,
    diagnostics: {{enabled: false}},
    runtimeState: {{enabled: false}},
    telemetry: {{enabled: false}},
    externalModules: {{
        autoInstall: false, palette: {{allowInstall: false}}, modules: {{allowInstall: false}},
    }},
    editorTheme: {{projects: {{enabled: false}}}},
    functionExternalModules: false,
    logging: {{
        console: {{level: "warn", metrics: false, audit: false}},
        bench: {{
            level: "info",
            metrics: false,
            audit: false,
            handler: function () {{
                return function (entry) {{
                    const text = String(entry.msg);
                    if (text.startsWith("Connected to broker")) {{
                        process.stdout.write("{MARK} connected\\n");
                    }}
                }};
            }},
        }},
    }},
}};
"""


@dataclass
class NodeRedRun:
    seconds: float  # from the MQTT connection to the last point acknowledged by InfluxDB
    cpu_s: float  # the node process over the same span (user + system, /proc)
    points: int  # as counted in InfluxDB afterwards
    end: str  # what ended the clock: "complete node" or "influxdb count"


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (as bench/ingest_throughput.py)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class NodeRed:
    """One Node-RED process on a fresh user dir in `work` (started by `start`, stopped and removed by
    `stop`). `influx_url` is influxd's HTTP API; the flow writes into `database` / `retention_policy`."""

    def __init__(
        self,
        work: Path,
        *,
        broker_port: int,
        influx_url: str,
        database: str,
        retention_policy: str,
        topic_filters: list[str],
        expected: int,
        ui_port: int,
        cache: Path = CACHE,
    ) -> None:
        self.user_dir = work
        self.influx_url, self.database, self.retention_policy = influx_url, database, retention_policy
        self.expected = expected
        self.cache = cache
        influx_port = httpx.URL(influx_url).port
        assert influx_port is not None, influx_url
        self.flows = flows(
            broker_port=broker_port, topic_filters=topic_filters, influx_port=influx_port,
            database=database, retention_policy=retention_policy, expected=expected,
        )  # fmt: skip
        self.ui_port = ui_port
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.output: deque[str] = deque(maxlen=40)
        self.connected = threading.Event()
        self.stored = threading.Event()
        self._marks: dict[str, tuple[float, float]] = {}  # mark -> (perf_counter, node CPU s) when it came

    def start(self) -> None:
        self.user_dir.mkdir(parents=True)
        (self.user_dir / "flows.json").write_text(json.dumps(self.flows, indent=1))
        (self.user_dir / "settings.js").write_text(settings_js(self.user_dir, self.ui_port))
        red = self.cache / "node_modules" / "node-red" / "red.js"
        node = shutil.which("node")
        if node is None:
            raise NodeRedUnavailable("node is not on the PATH")
        command = [node, str(red), "--userDir", str(self.user_dir), "--settings", "settings.js"]
        self.process = subprocess.Popen(  # noqa: S603
            command,
            cwd=self.user_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # a Ctrl-C of the bench reaches it through stop(), once
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            mark = line.split(MARK, 1)[1].split()[0] if MARK in line else None
            if mark is not None and mark not in self._marks:
                with contextlib.suppress(OSError):
                    self._marks[mark] = (time.perf_counter(), process_cpu(process.pid))
                {"connected": self.connected, "stored": self.stored}.get(mark, threading.Event()).set()
            self.output.append(line.rstrip())

    def run_until(self, timeout: float, on_start: Callable[[], object] | None = None) -> NodeRedRun:
        """Wait for the MQTT connection (`on_start` is called then), then until InfluxDB has acknowledged
        `expected` points; TimeoutError after `timeout` s of draining, RuntimeError if Node-RED dies."""
        process = self.process
        assert process is not None, "start() first"
        self._wait(self.connected, START_TIMEOUT_S, "connect to the broker")
        if on_start is not None:
            on_start()
        started, cpu_started = self._marks["connected"]
        end = "complete node"
        next_poll = time.perf_counter() + POLL_S
        while not self.stored.wait(0.005):
            self._alive()
            now = time.perf_counter()
            if now > next_poll:
                next_poll = now + POLL_S
                if self.count() >= self.expected:  # the completion line missed, the points are there
                    end = "influxdb count"
                    self._marks["stored"] = (now, process_cpu(process.pid))
                    break
            if now - started > timeout:
                raise TimeoutError(
                    f"Node-RED stored {self.count()} of {self.expected} points in {timeout:.0f} s"
                    + self._tail()
                )
        stopped, cpu_stopped = self._marks["stored"]
        points = self.count()
        if points != self.expected:
            raise RuntimeError(f"InfluxDB holds {points} points of Node-RED's, not {self.expected}")
        return NodeRedRun(stopped - started, cpu_stopped - cpu_started, points, end)

    def _wait(self, event: threading.Event, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not event.wait(0.05):
            self._alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"Node-RED did not {what} within {timeout:.0f} s" + self._tail())

    def _alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"Node-RED exited with {self.process.returncode}" + self._tail())

    def _tail(self) -> str:
        return "; its last lines:\n  " + "\n  ".join(self.output) if self.output else ""

    def count(self) -> int:
        """Points of the measurement in the flow's database and retention policy, as InfluxDB has them."""
        query = f'SELECT count("value") FROM "{self.retention_policy}"."{MEASUREMENT}"'  # noqa: S608  # ours
        response = httpx.get(f"{self.influx_url}/query", params={"db": self.database, "q": query}, timeout=30)
        response.raise_for_status()
        series = response.json()["results"][0].get("series")
        return int(series[0]["values"][0][1]) if series else 0

    def stop(self) -> None:
        """SIGINT (Node-RED closes its flows and MQTT connection), SIGKILL after 15 s; the user dir goes."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if self._reader is not None:
            self._reader.join(5)  # the pipe's end: Node-RED has gone
        if process is not None and process.stdout is not None:
            process.stdout.close()
        shutil.rmtree(self.user_dir, ignore_errors=True)
