"""The fault suite's services (one private influxd the scenarios may kill) and its report: a table of every
scenario printed at the end of the session and written to test-artifacts/faults.md."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.ledger import Count
from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.process import start_with_port_retries

ARTIFACT = Path(__file__).parents[2] / "test-artifacts" / "faults.md"
COLUMNS = (
    "scenario",
    "seed",
    "read",
    "stored",
    "dropped (counted)",
    "in flight",
    "late",
    "duplicated",
    "lost",
    "verdict",
)
_counts: list[Count] = []


@pytest.fixture(scope="module")
def fault_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    """The suite's own influxd: scenarios SIGKILL and stop it, which the session's shared one must not see."""
    server = Influxd(tmp_path_factory.mktemp("fault-influxd"), require_binary("influxd", "influxdb"))
    start_with_port_retries(server)
    yield server
    server.stop()


@pytest.fixture
def fault_database(fault_influxd: Influxd) -> Iterator[str]:
    name = f"faults_{uuid.uuid4().hex[:12]}"
    fault_influxd.create_database(name)
    yield name
    if not fault_influxd.running:
        fault_influxd.start()
    fault_influxd.drop_database(name)


@pytest.fixture
def ledger() -> list[Count]:
    """Where a scenario leaves its count for the session's table."""
    return _counts


def table(counts: list[Count]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for c in counts:
        # Quota drops and readings a full disk kept from the outbox, both within dropped_total.
        readings = c.dropped_readings + c.unstored_readings
        dropped = f"{readings} of {c.dropped_counted}" if c.dropped_counted else "0"
        cells = (
            c.scenario,
            c.seed,
            c.read,
            c.stored,
            dropped,
            c.in_flight,
            c.late,
            c.duplicated,
            c.lost,
            c.verdict,
        )
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _counts:
        return
    text = table(_counts)
    terminalreporter.section("fault scenarios: read at the devices against stored")
    terminalreporter.write_line(text)
    faults = "\n".join(f"- {c.scenario} {c.seed}: {c.faults} ({c.timing})" for c in _counts)
    notes = "\n".join(f"- {c.explain()}" for c in _counts if c.notes)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(
        "# Fault scenarios\n\nRead at the devices against stored (tests/faults/ledger.py says how each is"
        f" counted).\n\n{text}\n\n## Faults injected\n\n{faults}\n"
        + (f"\n## Notes\n\n{notes}\n" if notes else "")
    )
