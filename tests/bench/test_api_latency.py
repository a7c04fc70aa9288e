"""bench/api_latency.py at a tiny size, so the benchmark cannot rot between `make bench` runs: it fills both
storages, serves the API from a real `pantau backend run`, and every request of the mix is answered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services  # starts mosquitto, influxd and a backend

ROOT = Path(__file__).parents[2]


def test_api_latency_bench_runs_and_reports(tmp_path: Path) -> None:
    arguments = ["--devices", "2", "--channels", "2", "--days", "1", "--clients", "3", "--seconds", "1"]
    arguments.append("--profile")
    subprocess.run(
        [sys.executable, "-m", "bench.api_latency", *arguments, "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=100,
    )
    (report_file,) = tmp_path.glob("*-api.json")
    report = json.loads(report_file.read_text())
    assert report["data"]["readings"] == 2 * 2 * 1440
    assert [r["storage"] for r in report["results"]] == ["sqlite", "influx"]
    for result in report["results"]:
        assert result["errors"] == 0, result
        assert result["latest"]["count"] > 0, result
        assert result["series"]["count"] > 0, result
    text = report_file.with_suffix(".md").read_text()
    assert "| sqlite | latest |" in text
    # the profile of one request per route on each storage
    assert set(report["profiles"]) == {"sqlite", "influx"}
    assert "--- GET /series:" in report["profiles"]["influx"]
