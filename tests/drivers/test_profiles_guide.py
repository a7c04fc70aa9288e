"""docs/profiles.md, the guide to writing a device profile, is run as written: its profiles load, its YAML
fragments are pieces of them (or, for the site entry, a device a site accepts with the profile), its console
sessions print exactly what the guide shows, and its read commands work against a simulated device."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from drivers.profiles import load_profile
from drivers.serial_records.parser import RecordParser
from drivers.sim.record_device import SimulatedRecordDevice
from drivers.sim.traffic import TrafficGenerator
from gateway.inventory import resolve_site
from pantau.profiles.records.profile import RecordProfile
from pantau.site.config import load_site
from tests.harness.process import free_port, port_open, wait_until
from tests.harness.serial_pty import SocatPtyPair

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "profiles.md"
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```$", GUIDE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
#: A complete file opens with a comment naming it: `# ht100-level.yaml: ...`.
FILE_NAME = re.compile(r"^# (\S+\.yaml):")
PROBLEM = re.compile(r"^\S+\.yaml:\d+:\d+: ", re.MULTILINE)


def files() -> dict[str, str]:
    found = {}
    for kind, text in BLOCKS:
        name = FILE_NAME.match(text)
        if kind == "yaml" and name:
            found[name.group(1)] = text
    return found


def fragments() -> list[str]:
    return [text for kind, text in BLOCKS if kind == "yaml" and not FILE_NAME.match(text)]


def write_files(directory: Path) -> None:
    for name, text in files().items():
        (directory / name).write_text(text, encoding="utf-8")


def test_the_guide_has_what_it_promises() -> None:
    assert set(files()) == {"ht100-level.yaml", "wim-fixed-w8.yaml"}
    assert len(fragments()) >= 8
    assert sum(kind == "console" for kind, _ in BLOCKS) >= 4


@pytest.mark.parametrize("name", sorted(files()))
def test_each_profile_of_the_guide_loads(tmp_path: Path, name: str) -> None:
    write_files(tmp_path)
    assert load_profile(tmp_path / name).id == name.removesuffix(".yaml")


def _is_site_entry(fragment: str) -> bool:
    return fragment.startswith("- id:") and "profile:" in fragment


@pytest.mark.parametrize("fragment", [f for f in fragments() if not _is_site_entry(f)])
def test_each_fragment_is_a_piece_of_a_profile(fragment: str) -> None:
    assert yaml.safe_load(fragment) is not None
    whole = "\n".join(files().values()).splitlines()
    for line in fragment.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert line in whole, f"{line!r} is in no profile of the guide"


def test_the_site_entry_goes_with_its_profile(tmp_path: Path) -> None:
    (entry,) = [f for f in fragments() if _is_site_entry(f)]
    write_files(tmp_path)
    site = yaml.safe_load((REPO / "firmware_configs" / "sites" / "ampal-mufakat.yaml").read_text())
    site["buses"][0]["devices"] += yaml.safe_load(entry)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True))
    devices = [
        d.config.id for bus in resolve_site(load_site(path), path) for d in getattr(bus, "devices", [])
    ]
    assert "wl-ht100" in devices


def sessions() -> list[tuple[str, str]]:
    """(command, expected output) of each `$ ` line of the console blocks, in order."""
    found: list[tuple[str, str]] = []
    for kind, text in BLOCKS:
        if kind != "console":
            continue
        for part in re.split(r"^\$ ", text, flags=re.MULTILINE)[1:]:
            command, _, output = part.partition("\n")
            found.append((command, output))
    return found


def environment() -> dict[str, str]:
    return os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.services  # each command is a child process, as a technician runs it
def test_the_console_sessions_print_what_the_guide_shows(tmp_path: Path) -> None:
    write_files(tmp_path)
    for command, expected in sessions():
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.stdout == expected, f"$ {command}\n{done.stdout}"
        # A session showing problems (`file:line:column: ...`) shows a failing check.
        assert (done.returncode == 0) == (not PROBLEM.search(expected)), command


def shell_lines() -> list[str]:
    return [line for kind, text in BLOCKS if kind == "sh" for line in text.splitlines() if line.strip()]


@pytest.mark.services
def test_the_simulated_transmitter_reads_through_the_profile(tmp_path: Path) -> None:
    simulate, read = [line for line in shell_lines() if "ht100-level" in line]
    port = str(free_port())
    write_files(tmp_path)
    server = subprocess.Popen(
        ["bash", "-c", f"exec {simulate.replace('5020', port)}"],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: port_open("127.0.0.1", int(port)), timeout=30)
        done = subprocess.run(
            ["bash", "-c", read.replace("5020", port)],
            cwd=tmp_path,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(20)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split()[-1] for line in done.stdout.splitlines()}
    assert rows == {"alarm": "good", "water_column": "good", "temperature": "good", "level": "good"}, (
        done.stdout
    )


def test_the_record_read_command_is_the_one_tested_below() -> None:
    (command,) = [line for line in shell_lines() if "records read" in line]
    assert command == "pantau records read --port /dev/ttyUSB0 --profile wim-fixed-w8.yaml --duration 5m"


def test_records_read_watches_the_controller_through_the_profile(
    tmp_path: Path, pty_pair: SocatPtyPair
) -> None:
    (command,) = [line for line in shell_lines() if "records read" in line]
    write_files(tmp_path)
    frame = yaml.safe_load(files()["wim-fixed-w8.yaml"])["examples"][0]["frame"]
    # The guide's command on the test's serial cable, stopping after two vehicles instead of five minutes.
    command = command.replace("/dev/ttyUSB0", str(pty_pair.host_end)) + " --count 2"
    reader = subprocess.Popen(
        ["bash", "-c", f"exec {command}"], cwd=tmp_path, env=environment(), stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    with pty_pair.device_end.open("wb", buffering=0) as device:
        while reader.poll() is None and time.monotonic() < deadline:
            device.write(frame.encode("ascii") + b"\r\n")
            time.sleep(0.2)
    output, _ = reader.communicate(timeout=10)
    assert reader.returncode == 0, output
    assert "000412" in output
    assert "0 rejected" in output, output


async def test_the_simulator_prints_the_guides_wim_record_in_its_columns(tmp_path: Path) -> None:
    # `pantau simulate` crashed on this profile (UnencodableRecord): the traffic's record id
    # (20261203-000001) did not fit the 6-character id column. It now prints the counter's last digits.
    write_files(tmp_path)
    profile = load_profile(tmp_path / "wim-fixed-w8.yaml")
    assert isinstance(profile, RecordProfile)
    device = SimulatedRecordDevice(profile, TrafficGenerator(seed=1), truck_every=timedelta(0))
    parser = RecordParser(profile)
    frames = device.frames()
    ids = []
    for _ in range(3):
        vehicle = parser.parse((await anext(frames)).strip(b"\r\n"), received_at=datetime.now(UTC))
        assert vehicle.record_id is not None
        ids.append(vehicle.record_id)
    await frames.aclose()
    assert ids == ["000001", "000002", "000003"]
