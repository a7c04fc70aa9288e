"""API latency benchmark: the read routes under a realistic query mix, p50/p99, on SQLite and on InfluxDB.

The load (issue #18): `--clients` concurrent clients (default 50) against one `pantau backend run` serving
the API, each sending its next request as soon as the last is answered, for `--seconds` per storage. The mix
is a flood dashboard's: `--latest-share` of the requests (default 0.8) are `GET /latest` for the whole site
(every channel's latest value: the map), the rest `GET /series` of one channel, 30 days in 1-minute means
(43,200 buckets: the chart a hydrologist opens). The storage holds `--devices` x `--channels` channels
with one reading a minute over `--days` days before now (default 24 x 10 x 30 days: 10.4 million readings),
the same data on both storages.

How the data gets there: the first minute through the storage's own write path (the points ingest writes
for a readings message); the rest copies that minute's rows shifted in time with a moving value, in SQL for
SQLite (one INSERT ... SELECT) and as line protocol for InfluxDB (checked against the encoder's own line
for the first minute), because the write path at 32,000 points/s would take five minutes per storage.

The API's `caps.max_points` is raised to 50,000 for the run: the shipped 20,000 refuses a 30-day 1-minute
series of one channel (the report says so). Everything on loopback; the services are stopped at the end.

Run: `make bench` or `python -m bench.api_latency [--days 30] [--seconds 20] [--storage sqlite influx]`.
Results: bench/results/<date>-api.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import yaml

from backend.api.auth import hash_key
from backend.config.api import ApiConfig
from backend.storage.config import InfluxConfig
from backend.storage.influx import InfluxStorage
from backend.storage.influx.line_protocol import encode_point
from backend.storage.model import Point, Retention, Storage
from backend.storage.schema import readings_points
from backend.storage.sqlite import SqliteStorage
from bench import api_profile
from bench.gateway_cpu import cpu_seconds, machine, process, versions
from bench.report_files import write_report
from pantau.contract import Reading, Readings
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import free_port, start_with_port_retries

HERE: Final = Path(__file__).resolve().parent
RESULTS: Final = HERE / "results"
SITE: Final = "bench-site"
GATEWAY: Final = "gw-bench"
MINUTE_NS: Final = 60 * 1_000_000_000
KEY: Final = "rd-bench-0123456789abcdef0123456789abcdef"
#: The issue's goals: p99 of the latest values and of the 30-day 1-minute series.
GOAL_P99_MS: Final = {"latest": 50.0, "series": 500.0}
MAX_POINTS: Final = 50_000
INFLUX_BATCH: Final = 20_000
WARMUP_S: Final = 2.0
REQUEST_TIMEOUT_S: Final = 60.0
HEADER: Final = (
    "| storage | route | requests | p50 ms | p99 ms | max ms | goal p99 | verdict | req/s (all) | API CPU"
    " | errors |"
)


@dataclass
class Shape:
    devices: int
    channels: int
    days: int

    @property
    def minutes(self) -> int:
        return self.days * 24 * 60

    @property
    def readings(self) -> int:
        return self.devices * self.channels * self.minutes


@dataclass
class Result:
    storage: str
    fill_seconds: float
    seconds: float
    #: Latencies in ms per route, in the order they were answered.
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: One client, one request at a time, before the load: what a request costs when it waits for none.
    unloaded: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    #: "route: HTTP status detail" -> how many, so a refusal says what it was.
    error_kinds: dict[str, int] = field(default_factory=dict)
    server_cpu_s: float = 0.0

    def failed(self, route: str, what: str) -> None:
        key = f"{route}: {what}"
        if key not in self.error_kinds:
            print(f"  {key}", flush=True)
        self.errors += 1
        self.error_kinds[key] = self.error_kinds.get(key, 0) + 1

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"storage": self.storage, "fill_seconds": self.fill_seconds}
        out["requests_per_s"] = sum(len(v) for v in self.latencies.values()) / self.seconds
        out["errors"] = self.errors
        out["error_kinds"] = self.error_kinds
        out["unloaded"] = {route: percentiles(values) for route, values in self.unloaded.items()}
        out["server_cpu_share"] = self.server_cpu_s / self.seconds
        for route, values in self.latencies.items():
            out[route] = percentiles(values)
        return out


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"count": len(values), "p50": values[0] if values else float("nan"), "p99": float("nan")}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"count": len(values), "p50": cuts[49], "p99": cuts[98], "max": max(values)}


def first_minute(shape: Shape, at: datetime) -> list[Point]:
    """What ingest stores for one readings message per device at `at`: the real contract and schema."""
    points = []
    for d in range(shape.devices):
        message = Readings(
            site=SITE, gateway=GATEWAY, seq=0, ts=at, device=f"d{d}",
            channels={f"l{c}": Reading(value=level0(c), unit="m") for c in range(shape.channels)},
        )  # fmt: skip
        points.extend(readings_points(message))
    return points


def level0(channel: int) -> float:
    """The first minute's level of a channel."""
    return round(1.0 + channel / 10, 2)


def level(minute: int, device: int, channel: int) -> float:
    """A level that moves with time, differently per channel (cm resolution, as the gauges report)."""
    return round(1.0 + ((minute * 7 + device * 13 + channel) % 500) / 100, 2)


async def _write(storage: Storage, points: list[Point]) -> None:
    await storage.setup()
    try:
        await storage.write(points)
    finally:
        await storage.close()


def fill_sqlite(path: Path, shape: Shape, start: datetime) -> None:
    points = first_minute(shape, start)
    asyncio.run(_write(SqliteStorage(path, Retention()), points))
    t0 = points[0].time_ns
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")  # building the data set; the benchmark reads it
        ids = dict(db.execute("SELECT name, id FROM fields WHERE measurement = 'reading'").fetchall())
        # device and channel of each series, for the moving level (tags are canonical JSON)
        series = {sid: json.loads(tags) for sid, tags in db.execute("SELECT id, tags FROM series").fetchall()}
        db.execute("CREATE TEMP TABLE dc (series_id INTEGER PRIMARY KEY, d INTEGER, c INTEGER)")
        db.executemany(
            "INSERT INTO dc VALUES (?, ?, ?)",
            [(sid, int(t["device"][1:]), int(t["channel"][1:])) for sid, t in series.items()],
        )
        db.execute("BEGIN")
        db.execute(
            """
            WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < :minutes - 1)
            INSERT INTO points (series_id, time_ns, field_id, value)
            SELECT p.series_id, p.time_ns + k.n * :minute, p.field_id,
                   CASE p.field_id
                       WHEN :value THEN round(1.0 + ((k.n * 7 + dc.d * 13 + dc.c) % 500) / 100.0, 2)
                       WHEN :seq THEN k.n
                       ELSE p.value END
            FROM k, points p JOIN dc ON dc.series_id = p.series_id
            WHERE p.time_ns = :t0
            """,
            {
                "minutes": shape.minutes,
                "minute": MINUTE_NS,
                "value": ids["value"],
                "seq": ids["seq"],
                "t0": t0,
            },
        )
        db.execute("COMMIT")
    finally:
        db.close()


def influx_lines(shape: Shape, start: datetime) -> Iterator[bytes]:
    """Line protocol for every reading, written as ingest's encoder writes it (checked on minute 0)."""
    points = first_minute(shape, start)
    t0 = points[0].time_ns
    template = (
        "reading,channel=l{c},device=d{d},site=" + SITE + ' gateway="' + GATEWAY + '",qc_flag=1i,'
        'quality="good",seq={seq}i,unit="m",value={value} {ns}'
    )
    expected = [encode_point(p) for p in points]
    made = [
        template.format(c=c, d=d, seq=0, value=level0(c), ns=t0)
        for d in range(shape.devices)
        for c in range(shape.channels)
    ]
    if made != expected:
        raise RuntimeError(f"bench line protocol drifted from the encoder's: {made[0]!r} != {expected[0]!r}")
    yield from (line.encode() for line in expected)
    for minute in range(1, shape.minutes):
        ns = t0 + minute * MINUTE_NS
        for d in range(shape.devices):
            for c in range(shape.channels):
                value = level(minute, d, c)
                yield template.format(c=c, d=d, seq=minute, value=value, ns=ns).encode()


def fill_influx(influxd: Influxd, shape: Shape, start: datetime) -> None:
    config = InfluxConfig(url=influxd.url, database="bench")
    asyncio.run(_write(InfluxStorage(config, Retention()), []))
    params = {"db": config.database, "rp": config.retention_policy_raw, "precision": "ns"}
    batch: list[bytes] = []
    with httpx.Client(base_url=influxd.url, timeout=120) as http:

        def post() -> None:
            body = gzip.compress(b"\n".join(batch), 1)
            http.post(
                "/write", params=params, content=body, headers={"Content-Encoding": "gzip"}
            ).raise_for_status()
            batch.clear()

        for line in influx_lines(shape, start):
            batch.append(line)
            if len(batch) >= INFLUX_BATCH:
                post()
        if batch:
            post()


def api_settings(port: int) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "keys": [{"name": "bench", "role": "read", "key_sha256": hash_key(KEY)}],
        "caps": {"max_points": MAX_POINTS},
    }


def profiled(storage: Storage, shape: Shape) -> str:
    """bench/api_profile.py over `storage`: one request of each route alone, then under cProfile."""
    rng = random.Random(-2)  # noqa: S311 - a query mix, not a secret
    requests = {route: route_params(route, rng, shape) for route in ("latest", "series")}
    return api_profile.run(ApiConfig.model_validate(api_settings(8000)), storage, KEY, requests)


def backend_file(workdir: Path, storage: dict[str, Any], broker: Mosquitto, port: int) -> Path:
    document = {
        "worker_id": "bench-api",
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": "bench/v1"},
        "storage": storage,
        "spool": {"path": str(workdir / "spool.sqlite3")},
        "api": api_settings(port),
    }
    path = workdir / "backend.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def wait_ready(url: str, within_s: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                if (await http.get("/api/v1/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API at {url} was not ready within {within_s:.0f} s")


def route_params(route: str, rng: random.Random, shape: Shape) -> dict[str, str]:
    if route == "latest":
        return {"site": SITE}
    d, c = rng.randrange(shape.devices), rng.randrange(shape.channels)
    end = datetime.now(UTC)
    return {
        "series": f"{SITE}/d{d}/l{c}", "every": "1m",
        "start": (end - timedelta(days=shape.days)).isoformat(), "end": end.isoformat(),
    }  # fmt: skip


async def request(
    http: httpx.AsyncClient, result: Result, route: str, params: dict[str, str]
) -> float | None:
    """One request: its latency in ms, or None (counted as an error, with what it was)."""
    started = time.perf_counter()
    try:
        answer = await http.get(f"/api/v1/{route}", params=params)
    except httpx.TimeoutException:
        result.failed(route, f"no answer within {REQUEST_TIMEOUT_S:g} s")
        return None
    elapsed_ms = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        detail = (
            answer.json().get("detail", "") if answer.headers.get("content-type", "").endswith("json") else ""
        )
        result.failed(route, f"HTTP {answer.status_code} {detail}".strip())
        return None
    return elapsed_ms


async def load(  # noqa: PLR0917 - the bench's knobs
    url: str, shape: Shape, clients: int, seconds: float, latest_share: float, unloaded: int
) -> Result:
    """`unloaded` requests of each route one at a time, then `clients` clients in a closed loop for
    `seconds` (after a short warm-up not counted)."""
    result = Result(storage="", fill_seconds=0.0, seconds=seconds, latencies={"latest": [], "series": []})
    result.unloaded = {"latest": [], "series": []}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {KEY}"}
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, limits=limits) as http:
        rng = random.Random(-1)  # noqa: S311 - a query mix, not a secret
        for route in ("latest", "series"):
            for _ in range(unloaded):
                elapsed = await request(http, result, route, route_params(route, rng, shape))
                if elapsed is not None:
                    result.unloaded[route].append(elapsed)
        measuring = False
        stop_at = time.monotonic() + WARMUP_S + seconds

        async def client(number: int) -> None:
            nonlocal measuring
            rng = random.Random(number)  # noqa: S311 - a query mix, not a secret
            # The mix dealt evenly (not drawn at random), each client starting at another point of it, so
            # even a short run has both routes in their shares.
            turn = number
            while time.monotonic() < stop_at:
                turn += 1
                same = int(turn * (1 - latest_share)) == int((turn - 1) * (1 - latest_share))
                route = "latest" if same else "series"
                elapsed = await request(http, result, route, route_params(route, rng, shape))
                if elapsed is not None and measuring:
                    result.latencies[route].append(elapsed)

        async def start_measuring() -> None:
            nonlocal measuring
            await asyncio.sleep(WARMUP_S)
            measuring = True

        await asyncio.gather(start_measuring(), *(client(n) for n in range(clients)))
    return result


def run_one(  # noqa: PLR0917 - the bench's knobs, passed through
    name: str,
    storage: dict[str, Any],
    broker: Mosquitto,
    workdir: Path,
    shape: Shape,
    args: argparse.Namespace,
    fill_seconds: float,
) -> Result:
    port = free_port()
    config = backend_file(workdir, storage, broker, port)
    command = [
        sys.executable,
        "-m",
        "pantau",
        "--log-level",
        "warning",
        "backend",
        "run",
        "--config",
        str(config),
    ]
    log = workdir / f"backend-{name}.log"
    with process(command, log) as child:
        url = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(wait_ready(url, 60))
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log:\n{log.read_text()[-3000:]}") from exc
        cpu0 = cpu_seconds(child.pid)
        result = asyncio.run(load(url, shape, args.clients, args.seconds, args.latest_share, args.unloaded))
        result.server_cpu_s = cpu_seconds(child.pid) - cpu0
    result.storage, result.fill_seconds = name, fill_seconds
    # The warm-up was not measured, but the server's CPU was: count it in the share's time too.
    result.server_cpu_s *= args.seconds / (args.seconds + WARMUP_S)
    return result


def main() -> None:  # noqa: PLR0915 - one bench, start to end
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=24)
    parser.add_argument("--channels", type=int, default=10, help="channels per device")
    parser.add_argument("--days", type=int, default=30, help="days of 1-minute readings before now")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per storage")
    parser.add_argument("--unloaded", type=int, default=10, help="requests per route one at a time first")
    parser.add_argument("--latest-share", type=float, default=0.8, help="share of /latest in the mix")
    parser.add_argument("--storage", nargs="+", default=["sqlite", "influx"], choices=["sqlite", "influx"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--profile", action="store_true", help="add where one request of each route goes")
    args = parser.parse_args()
    profiles: dict[str, str] = {}
    shape = Shape(args.devices, args.channels, args.days)
    # The newest reading one minute ago: /latest finds every channel, a 30-day series is full.
    start = (datetime.now(UTC) - timedelta(days=shape.days)).replace(second=0, microsecond=0)
    print(
        f"{shape.readings:,} readings: {shape.devices} x {shape.channels} channels, {shape.days} days",
        flush=True,
    )
    results: list[Result] = []
    mosquitto = require_binary("mosquitto", "mosquitto")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "mqtt", mosquitto)
        start_with_port_retries(broker)
        try:
            if "sqlite" in args.storage:
                started = time.perf_counter()
                path = workdir / "pantau.sqlite3"
                fill_sqlite(path, shape, start)
                fill = time.perf_counter() - started
                size_mb = path.stat().st_size / 2**20
                print(f"sqlite filled in {fill:.0f} s ({size_mb:,.0f} MB)", flush=True)
                if args.profile:
                    profiles["sqlite"] = profiled(SqliteStorage(path, Retention()), shape)
                storage = {"backend": "sqlite", "sqlite": {"path": str(path)}}
                results.append(run_one("sqlite", storage, broker, workdir, shape, args, fill))
                path.unlink()
            if "influx" in args.storage:
                influxd = Influxd(workdir / "influx", require_binary("influxd", "influxdb"))
                start_with_port_retries(influxd)
                try:
                    started = time.perf_counter()
                    fill_influx(influxd, shape, start)
                    fill = time.perf_counter() - started
                    print(f"influx filled in {fill:.0f} s", flush=True)
                    if args.profile:
                        config = InfluxConfig(url=influxd.url, database="bench")
                        profiles["influx"] = profiled(InfluxStorage(config, Retention()), shape)
                    storage = {"influx": {"url": influxd.url, "database": "bench"}}
                    results.append(run_one("influx", storage, broker, workdir, shape, args, fill))
                finally:
                    influxd.stop()
        finally:
            broker.stop()
        for result in results:
            print(json.dumps(result.summary()), flush=True)
        report = build_report(results, shape, args, versions(mosquitto), profiles)
    write(report, args.out)


def build_report(
    results: list[Result],
    shape: Shape,
    args: argparse.Namespace,
    found: dict[str, str],
    profiles: dict[str, str],
) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": found | {"influxd": _influxd_version()},
        "data": {
            "devices": shape.devices,
            "channels_per_device": shape.channels,
            "days": shape.days,
            "readings": shape.readings,
        },
        "clients": args.clients,
        "seconds": args.seconds,
        "latest_share": args.latest_share,
        "max_points": MAX_POINTS,
        "goals_p99_ms": GOAL_P99_MS,
        "results": [r.summary() for r in results],
        "profiles": profiles,
    }


def _influxd_version() -> str:
    try:
        binary = require_binary("influxd", "influxdb")
    except Exception:  # noqa: BLE001 - a version line is not worth failing the report for
        return "?"
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)  # noqa: S603
    return out.stdout.strip() or "?"


def _verdict(p99: float, goal: float) -> str:
    if p99 != p99:  # noqa: PLR0124 - NaN: nothing answered
        return "no answers"
    return "met" if p99 < goal else f"not met ({p99 / goal:.2f}x the goal)"


def markdown(report: dict[str, Any]) -> str:
    data = report["data"]
    found = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    lines = [
        f"# API latency bench, {report['date']}",
        "",
        f"Machine: {report['machine']}. Versions: {found}.",
        "",
        (
            f"Data: {data['readings']:,} readings ({data['devices']} devices x {data['channels_per_device']}"
            f" channels, one a minute for {data['days']} days), the same on both storages. Load: "
            f"{report['clients']} concurrent clients in a closed loop for {report['seconds']:g} s per "
            f"storage, "
            f"{report['latest_share']:.0%} `GET /latest?site=...` (every channel of the site), the rest "
            f"`GET /series` of one random channel over {data['days']} days in 1-minute means. One "
            "`pantau backend run` serving the API (one process, as shipped); latency from request to the "
            "whole answer, measured by the client on loopback. `caps.max_points` raised to "
            f"{report['max_points']:,} (the shipped 20,000 refuses a 30-day 1-minute series)."
        ),
        "",
        HEADER,
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in report["results"]:
        for route, goal in report["goals_p99_ms"].items():
            stats = result.get(route, {"count": 0, "p50": float("nan"), "p99": float("nan")})
            lines.append(
                f"| {result['storage']} | {route} | {stats['count']:,} | {stats['p50']:.1f}"
                f" | {stats['p99']:.1f}"
                f" | {stats.get('max', float('nan')):.1f} | < {goal:g} | {_verdict(stats['p99'], goal)}"
                f" | {result['requests_per_s']:.1f} | {result['server_cpu_share']:.0%} of a core"
                f" | {result['errors']} |"
            )
    lines += ["", "One client, one request at a time, before the load (what a request costs alone):", ""]
    lines += ["| storage | route | requests | p50 ms | max ms |", "|---|---|---|---|---|"]
    for result in report["results"]:
        for route, stats in result["unloaded"].items():
            lines.append(
                f"| {result['storage']} | {route} | {stats['count']} | {stats['p50']:.1f}"
                f" | {stats.get('max', float('nan')):.1f} |"
            )
    kinds = [f"{r['storage']} {kind}: {n}" for r in report["results"] for kind, n in r["error_kinds"].items()]
    if kinds:
        lines += ["", "Errors: " + "; ".join(kinds) + "."]
    fills = ", ".join(f"{r['storage']} {r['fill_seconds']:.0f} s" for r in report["results"])
    lines += ["", f"Building the data set took: {fills}."]
    for storage, text in report.get("profiles", {}).items():
        lines += ["", f"## Where a request's time goes, {storage} (bench/api_profile.py)", "", "```"]
        lines += [text, "```"]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> None:
    write_report(report, out, "api", markdown)


if __name__ == "__main__":
    main()
