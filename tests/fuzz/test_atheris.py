"""Coverage-guided fuzzing in CI, bounded: each atheris target (tests/fuzz/atheris_targets.py) runs for a
few seconds from its seed corpus with a fixed seed; a crash makes libFuzzer exit non-zero with the input.
Child processes (libFuzzer owns its process: it exits when done), so this is a `services` test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services

pytest.importorskip("atheris", reason="atheris ships wheels for Linux only (a dev dependency there)")

ROOT = Path(__file__).resolve().parents[2]
#: Per target in make test (CI): 6,000 (Modbus) to 120,000 (contract) executions each on this loaded machine,
#: enough to pass the seeds' branches and mutate past them; `make fuzz` runs each for FUZZ_SECONDS (300).
SECONDS = 4


@pytest.mark.parametrize("target", ["records", "modbus", "contract"])
def test_the_coverage_guided_fuzzer_finds_no_crash(target: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.atheris_targets", target, f"-max_total_time={SECONDS}", "-seed=1"],
        cwd=tmp_path,  # a crash-<hash> file lands here, not in the checkout
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
        check=False,
    )
    assert done.returncode == 0, f"{target}: libFuzzer found a crash\n{done.stderr[-4000:]}"
    assert "Done " in done.stderr, done.stderr[-2000:]  # it ran, rather than failing to start
