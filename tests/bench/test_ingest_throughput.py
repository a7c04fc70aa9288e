"""bench/ingest_throughput.py at a tiny size, so the benchmark cannot rot between `make bench` runs: the
queues filled by its two publisher processes, every flow drained, each message stored once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services  # starts mosquitto, influxd and backend workers

ROOT = Path(__file__).parents[2]


def test_ingest_throughput_bench_runs_and_reports(tmp_path: Path) -> None:
    arguments = ["--messages", "301", "--channels", "2", "--rounds", "1", "--workers", "1", "2"]
    subprocess.run(
        [sys.executable, "-m", "bench.ingest_throughput", *arguments, "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=110,
    )
    (report_file,) = tmp_path.glob("*-backend.json")
    report = json.loads(report_file.read_text())
    # A flow ends when all its readings are stored (received, for the ceiling); one that misses any times
    # out and is listed here. 301 messages: the two publishers' shares differ by one.
    assert report["failures"] == []
    flows = {row["flow"]: row for row in report["summary"]}
    assert set(flows) == {"ceiling", "raw LP", "pantau", "pantau x1 v5", "pantau x2 v5"}
    for row in flows.values():
        assert row["readings_per_s"] > 0, row
