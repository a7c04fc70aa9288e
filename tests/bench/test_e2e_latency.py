"""bench/e2e_latency.py at a tiny size, so the benchmark cannot rot between `make bench` runs: devices,
gateway, broker, backend with rules and influxd all run, and both latencies are measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services  # starts mosquitto, influxd, simulated devices, a gateway and a backend

ROOT = Path(__file__).parents[2]


def test_e2e_latency_bench_runs_and_reports(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.e2e_latency",
            "--rounds",
            "1",
            "--seconds",
            "2",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        check=True,
        timeout=100,
    )
    (report_file,) = tmp_path.glob("*-e2e.json")
    report = json.loads(report_file.read_text())
    # readings became rows and alerts within the window, each with a latency that is a real duration
    for what in ("row visible", "alert published"):
        assert report[what]["count"] > 0, report[what]
        assert 0 < report[what]["p50"] < 60, report[what]
    assert "| row visible |" in report_file.with_suffix(".md").read_text()
