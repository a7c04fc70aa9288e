"""Soak of `pantau demo`: is one process flat over hours? (issue #22, "bounded over months")

Runs `pantau demo` as a subprocess for `--duration` and every `--interval` samples the process' RSS and
CPU share (from /proc: Linux only, no extra dependency), the latency of `GET /api/v1/latest` (`--probes`
requests per sample), the size of the SQLite database (with its WAL) and of every data file in the demo's
folder. Writes one CSV row per sample and, at the end, a summary: RSS at `--settle` (15 min) and at the
end, the least-squares slope of RSS after `--settle` in MB/h with its R^2, the spread of RSS after
`--settle`, CPU, database growth in MB/h, `/latest` latency, and the demo's warnings and tracebacks.

A tool, not a test: it takes as long as it is told. Run:
`python -m bench.soak_demo --duration 2h --out /tmp/soak` (`--help` for the rest).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from pantau.config import parse_duration

MB: Final = 1024 * 1024
TICKS: Final = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 60.0
COLUMNS: Final = ("elapsed_s", "rss_mb", "cpu_pct", "latest_p50_ms", "latest_p99_ms", "latest_max_ms",
                  "latest_errors", "sqlite_mb", "data_mb")  # fmt: skip


@dataclass(frozen=True)
class Sample:
    elapsed_s: float
    rss_mb: float
    cpu_pct: float
    latest_p50_ms: float
    latest_p99_ms: float
    latest_max_ms: float
    latest_errors: int
    sqlite_mb: float
    data_mb: float

    def row(self) -> str:
        return ",".join(f"{getattr(self, name):.3f}" for name in COLUMNS)


def rss_mb(pid: int) -> float:
    """Resident set size of one process (VmRSS), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


def latency_ms(url: str, probes: int) -> tuple[list[float], int]:
    """Latencies of `probes` GETs of `url` (ms), and how many failed."""
    times: list[float] = []
    errors = 0
    for _ in range(probes):
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (our own loopback URL)
                answer.read()
        except OSError:
            errors += 1
            continue
        times.append((time.perf_counter() - began) * 1000)
    return times, errors


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def files_mb(folder: Path, names: tuple[str, ...] | None = None) -> float:
    """Size of the SQLite files (with -wal and -shm) in `folder`, all of them or those named."""
    total = 0
    for path in folder.rglob("*"):
        if not path.is_file() or not path.name.split("-")[0].endswith((".db", ".sqlite3")):
            continue
        if names is None or path.name.split("-")[0] in names:
            total += path.stat().st_size
    return total / MB


def slope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope (per unit of x) and R^2 of (x, y) points."""
    if len(points) < 3:
        return float("nan"), float("nan")
    xs, ys = zip(*points, strict=True)
    fit = statistics.linear_regression(xs, ys)
    mean_y = statistics.fmean(ys)
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (fit.slope * x + fit.intercept)) ** 2 for x, y in points)
    return fit.slope, (1 - residual / total) if total else 1.0


def seconds(text: str) -> float:
    value = parse_duration(text)
    if not isinstance(value, timedelta):
        raise SystemExit(f"{text!r} is not a duration like 30s, 15m or 2h")
    return value.total_seconds()


def wait_for_api(url: str, demo: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            raise SystemExit(f"pantau demo exited with {demo.returncode} before its API answered")
        if not latency_ms(url, 1)[1]:
            return
        time.sleep(0.5)
    raise SystemExit(f"the demo's API did not answer within {START_TIMEOUT_S:.0f} s")


def summary(samples: list[Sample], settle_s: float, log: Path) -> str:
    after = [s for s in samples if s.elapsed_s >= settle_s]
    hours = [(s.elapsed_s / 3600, s.rss_mb) for s in after]
    rss_slope, r2 = slope(hours)
    db_slope, _ = slope([(s.elapsed_s / 3600, s.sqlite_mb) for s in after])
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = [
        f"soak of pantau demo: {len(samples)} samples over {samples[-1].elapsed_s / 3600:.2f} h"
        if samples
        else "soak of pantau demo: no samples",
    ]
    if after:
        first, last = after[0], after[-1]
        rss_after = [s.rss_mb for s in after]
        latencies = [s.latest_p99_ms for s in samples]
        lines += [
            (
                f"RSS at {first.elapsed_s / 60:.1f} min: {first.rss_mb:.1f} MB; at the end "
                f"({last.elapsed_s / 60:.1f} min): {last.rss_mb:.1f} MB"
            ),
            (
                f"RSS after {settle_s / 60:g} min: min {min(rss_after):.1f}, max {max(rss_after):.1f} MB "
                f"(spread {max(rss_after) - min(rss_after):.1f} MB); "
                f"slope {rss_slope:+.2f} MB/h (R^2 {r2:.2f})"
            ),
            (
                f"CPU: mean {statistics.fmean(s.cpu_pct for s in samples[1:] or samples):.1f} % of a core; "
                f"first {samples[min(1, len(samples) - 1)].cpu_pct:.1f} %, last {last.cpu_pct:.1f} %"
            ),
            (
                f"SQLite (pantau.sqlite3 with WAL): {samples[0].sqlite_mb:.1f} -> {last.sqlite_mb:.1f} MB, "
                f"{db_slope:+.2f} MB/h after {settle_s / 60:g} min; all data files {last.data_mb:.1f} MB"
            ),
            (
                f"/latest: p50 of samples {statistics.median(s.latest_p50_ms for s in samples):.1f} ms, "
                f"p99 per sample first {latencies[0]:.1f} / last {latencies[-1]:.1f} / "
                f"max {max(latencies):.1f} ms, failed requests {sum(s.latest_errors for s in samples)}"
            ),
        ]
    lines.append(
        f"demo log: {text.count('WARNING')} WARNING, {text.count('ERROR')} ERROR, "
        f"{text.count('Traceback')} Traceback ({log})"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", default="2h", help="How long the demo runs (default 2h)")
    parser.add_argument("--interval", default="30s", help="Between samples (default 30s)")
    parser.add_argument("--settle", default="15m", help="RSS is judged after this (default 15m)")
    parser.add_argument("--probes", type=int, default=20, help="/latest requests per sample")
    parser.add_argument("--port", type=int, default=18000, help="The demo's API port")
    parser.add_argument("--out", type=Path, default=Path("soak"), help="Folder for CSV, summary, logs")
    args = parser.parse_args()
    duration, interval, settle = (seconds(text) for text in (args.duration, args.interval, args.settle))
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.out / "demo"
    log = args.out / "demo.log"
    command = [sys.executable, "-m", "pantau", "demo", "--port", str(args.port), "--mqtt-port", "0",
               "--workdir", str(workdir)]  # fmt: skip
    api = f"http://127.0.0.1:{args.port}/api/v1/latest"
    with log.open("wb") as output:
        demo = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603 (our own)
        samples: list[Sample] = []
        try:
            wait_for_api(api, demo)
            began = time.monotonic()
            cpu_before, at_before = cpu_seconds(demo.pid), began
            csv = args.out / "soak.csv"
            csv.write_text(",".join(COLUMNS) + "\n")
            print(f"{datetime.now(UTC):%H:%M:%S} soak of pid {demo.pid} for {duration:.0f} s -> {csv}")
            while True:
                now = time.monotonic()
                cpu = cpu_seconds(demo.pid)
                times, errors = latency_ms(api, args.probes)
                sample = Sample(
                    elapsed_s=now - began,
                    rss_mb=rss_mb(demo.pid),
                    cpu_pct=100 * (cpu - cpu_before) / (now - at_before) if now > at_before else 0.0,
                    latest_p50_ms=percentile(times, 0.5),
                    latest_p99_ms=percentile(times, 0.99),
                    latest_max_ms=max(times, default=float("nan")),
                    latest_errors=errors,
                    sqlite_mb=files_mb(workdir, ("pantau.sqlite3",)),
                    data_mb=files_mb(workdir),
                )
                cpu_before, at_before = cpu, now
                samples.append(sample)
                with csv.open("a") as rows:
                    rows.write(sample.row() + "\n")
                if now - began >= duration or demo.poll() is not None:
                    break
                time.sleep(max(0.0, began + len(samples) * interval - time.monotonic()))
        finally:
            if demo.poll() is None:
                demo.send_signal(signal.SIGINT)
                try:
                    demo.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    demo.kill()
    text = summary(samples, settle, log) + f"\ndemo exit code {demo.returncode}"
    (args.out / "summary.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
