"""Time and back-off go through the resilience kit (pantau.resilience) and nowhere else.

A hand-written `base * 2**n` overflowed after ~17 h of broker outage; a bare clock read makes a component
impossible to run in virtual time. The back-off rule has no exceptions. Every gateway, driver and backend
component takes a Clock; what still reads the machine's clock is the simulators and the demo, listed below
with the reason each. A file that no longer does must leave the list (the test says so), and no other file
may join it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "drivers", "backend", "pantau", "pantau_demo")
KIT = ROOT / "pantau" / "resilience"

HAND_BACKOFF = re.compile(r"\*\s*2\s*\*\*\s*[\w(]|2\s*\*\*\s*\(?\s*\w*(fail|attempt|retr)", re.IGNORECASE)
CLOCK_READ = re.compile(r"\btime\.time\(\)|\btime\.monotonic\(\)|\bdatetime\.now\(|\basyncio\.sleep\((?!0\))")

#: The simulators and the demo, which read the machine's clock directly, and why. Shrink it; never grow it.
NOT_YET_ON_THE_KIT: dict[str, str] = {
    "drivers/sim/cli.py": "simulator: serves devices on the machine's clock or a compressed one of its own",
    "drivers/sim/modbus_device.py": "simulator: a simulated device's turnaround is real time on the wire",
    "drivers/sim/record_device.py": "simulator: record streams paced in real time",
    "drivers/sim/scenario.py": "simulator: the scenario's compressed world clock",
    "pantau_demo/devices.py": "demo: the simulated world's clock",
    "pantau_demo/runner.py": "demo: waits for its processes in real time",
    "pantau_demo/status.py": "demo: the banner's uptime",
}


def sources() -> list[Path]:
    return sorted(
        path for package in PACKAGES for path in (ROOT / package).rglob("*.py") if KIT not in path.parents
    )


def code_lines(path: Path) -> list[tuple[int, str]]:
    """Lines without their comments (a comment may name `2**n` to explain why it is gone)."""
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        if code.strip() and not code.strip().startswith(('"', "'", "`")):
            lines.append((number, code))
    return lines


def test_no_back_off_is_written_by_hand() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {code.strip()}"
        for path in sources()
        for number, code in code_lines(path)
        if HAND_BACKOFF.search(code)
    ]
    assert not found, "use pantau.resilience.Backoff:\n" + "\n".join(found)


def test_the_clock_is_read_only_through_the_kit() -> None:
    readers = {
        str(path.relative_to(ROOT))
        for path in sources()
        if any(CLOCK_READ.search(code) for _n, code in code_lines(path))
    }
    newcomers = sorted(readers - NOT_YET_ON_THE_KIT.keys())
    assert not newcomers, f"take a pantau.resilience.Clock instead of reading the clock in {newcomers}"
    cleaned = sorted(NOT_YET_ON_THE_KIT.keys() - readers)
    assert not cleaned, f"{cleaned} no longer read the clock: take them off NOT_YET_ON_THE_KIT"


@pytest.mark.parametrize(
    "line",
    ["delay = base * 2**failures", "wait = min(cap, BASE * 2 ** attempt)", "x = 2 ** (failures - 1)"],
)
def test_the_back_off_rule_sees_the_old_spellings(line: str) -> None:
    assert HAND_BACKOFF.search(line)


@pytest.mark.parametrize("line", ["_INT64: Final = range(-(2**63), 2**63)", "_MAX = 2**32 / 1000"])
def test_the_back_off_rule_leaves_integer_ranges_alone(line: str) -> None:
    assert not HAND_BACKOFF.search(line)
