"""bench/outbox_replay.py at a tiny size, so the benchmark cannot rot between `make bench` runs: a backlog
in the real gateway's outbox, a broker outage, the replay measured, nothing lost or sent twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services  # starts mosquitto, simulated devices and a gateway

ROOT = Path(__file__).parents[2]


def test_outbox_replay_bench_runs_and_reports(tmp_path: Path) -> None:
    arguments = ["--rounds", "1", "--backlog", "300", "--shipped-backlog", "100", "--outage", "1"]
    subprocess.run(
        [sys.executable, "-m", "bench.outbox_replay", *arguments, "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=110,
    )
    (report_file,) = tmp_path.glob("*-replay.json")
    report = json.loads(report_file.read_text())
    assert set(report["contenders"]) == {"shipped", "fast"}
    for run in report["runs"]:
        # the prefilled backlog (10 readings a message) and what the gateway polled during the outage
        assert run["backlog_readings"] >= 10 * 100, run
        assert run["readings_per_s"] > 0, run
        assert (run["lost"], run["duplicates"]) == (0, 0), run
    assert "(shipped)" in report_file.with_suffix(".md").read_text()
