"""The technician's commands, run as processes against simulated devices: `pantau simulate` serving a
profile on TCP or on a virtual serial cable, `pantau modbus read|scan` and `pantau profile check` using it."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.process import free_port, port_open, wait_until
from tests.harness.rtu_slave import ReadRequest, Script, ScriptedRtuSlave, register_reply
from tests.harness.serial_pty import SocatPtyPair

pytestmark = pytest.mark.services  # `python -m pantau modbus` in a child process

PANTAU = [sys.executable, "-m", "pantau"]


def pantau(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PANTAU, *args], capture_output=True, text=True, timeout=timeout, check=False)


def read_over_tcp(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`pantau modbus read` against the simulated TCP device."""
    return pantau("modbus", "read", "--host", "127.0.0.1", "--tcp-port", str(port), *args)


@contextlib.contextmanager
def background_pantau(args: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`pantau ARGS` running in the background (output in log_path), stopped when the block ends."""
    with log_path.open("wb") as log:
        process = subprocess.Popen([*PANTAU, *args], stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(10)


@pytest.fixture
def simulated_tcp(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    args = ["simulate", "--profile", "qdy30a", "--tcp", f"127.0.0.1:{port}", "--param", "datum_m=-0.3"]
    with background_pantau(args, tmp_path / "simulate.log"):
        assert wait_until(lambda: port_open("127.0.0.1", port), 20), "pantau simulate did not listen"
        yield port


@pytest.fixture
def simulated_pty(tmp_path: Path) -> Iterator[Path]:
    link = tmp_path / "ttyVEGA"
    args = [
        "simulate",
        "--profile",
        "vegapuls-c21",
        "--pty",
        "--link",
        str(link),
        "--param",
        "mounting_height_m=6",
        "--fault",
        "nan=echo_amplitude",
    ]
    with background_pantau(args, tmp_path / "simulate.log"):
        assert wait_until(link.exists, 20), "pantau simulate did not create its virtual serial port"
        yield link


def test_read_a_profile_over_tcp_as_json(simulated_tcp: int) -> None:
    result = read_over_tcp(
        simulated_tcp,
        "--profile",
        "qdy30a",
        "--param",
        "datum_m=-0.3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    readings = json.loads(result.stdout)
    assert readings["pressure_unit"] == {"value": 7.0, "text": "mH2O", "quality": "good"}
    column, level = readings["water_column"]["value"], readings["level"]["value"]
    assert 0.0 < column < 5.0
    assert level == pytest.approx(column - 0.3, abs=0.02)  # polled a moment apart on a moving river


def test_raw_read_prints_registers_and_decoded_values(simulated_tcp: int) -> None:
    result = read_over_tcp(
        simulated_tcp,
        "--address",
        "0",
        "--count",
        "4",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["registers"][:4] == [1, 0, 7, 3]  # address, baud code, mH2O, 3 decimals


def test_raw_read_as_bytes_shows_the_high_and_low_byte_of_each_register(simulated_tcp: int) -> None:
    result = read_over_tcp(simulated_tcp, "--address", "2", "--count", "2", "--type", "int8", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["values"] == [[0, 7], [0, 3]]  # unit code 7, 3 decimals


def test_profile_check_refuses_an_option_the_type_ignores(tmp_path: Path) -> None:
    # `order: DCBA` on a bit once passed `profile check` and was ignored (issue 21, defect 6).
    path = tmp_path / "pump.yaml"
    path.write_text(
        "id: pump\nprotocol: modbus\nmanufacturer: x\nmodel: x\nchannels:\n"
        "  - {id: running, register: 1, type: bit, bit: 2, order: DCBA}\n"
    )
    result = pantau("profile", "check", str(path))
    assert result.returncode == 1
    assert "channel 'running' (type bit): `order: DCBA` means nothing here" in result.stderr


def test_read_of_an_unmapped_register_reports_the_exception(simulated_tcp: int) -> None:
    result = read_over_tcp(simulated_tcp, "--address", "900")
    assert result.returncode == 1
    assert "modbus_exception_2" in result.stderr


def test_read_a_profile_over_the_virtual_serial_cable(simulated_pty: Path) -> None:
    result = pantau(
        "modbus",
        "read",
        "--port",
        str(simulated_pty),
        "--profile",
        "vegapuls-c21",
        "--param",
        "mounting_height_m=6",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    readings = json.loads(result.stdout)
    assert readings["device_status"]["text"] == "ok"
    assert readings["serial_number"]["text"] == "SIM00246"
    assert readings["echo_amplitude"] == {"quality": "bad", "reason": "not_a_number", "unit": "dB"}
    assert readings["level_from_distance"]["quality"] == "good"


def test_scan_finds_the_device_and_only_it(simulated_pty: Path) -> None:
    result = pantau(
        "modbus",
        "scan",
        "--port",
        str(simulated_pty),
        "--units",
        "245-247",
        "--address",
        "2002",
        "--timeout",
        "300ms",
    )
    assert result.returncode == 0, result.stderr
    assert "unit 246 at 9600 baud: answers" in result.stdout
    assert "unit 245" not in result.stdout and "unit 247" not in result.stdout


def test_scan_of_an_empty_bus_says_so(simulated_pty: Path) -> None:
    result = pantau("modbus", "scan", "--port", str(simulated_pty), "--units", "1-2", "--timeout", "200ms")
    assert result.returncode == 1
    assert "no device answered" in result.stdout


def test_read_needs_exactly_one_transport() -> None:
    result = pantau("modbus", "read", "--address", "0")
    assert result.returncode == 2
    assert "exactly one of --port" in result.stderr


def test_a_port_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    result = pantau(
        "modbus", "read", "--port", str(tmp_path / "ttyNONE"), "--address", "0", "--timeout", "300ms"
    )
    assert result.returncode == 1
    assert "connection" in result.stderr and "ttyNONE" in result.stderr


def test_profile_check_reports_each_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nprotocol: modbus\nmanufacturer: x\nmodel: x\nchannels: []\n")
    shipped = Path(__file__).parents[3] / "firmware_configs" / "profiles" / "qdy30a.yaml"
    result = pantau("profile", "check", str(shipped), str(bad))
    assert result.returncode == 1
    assert "qdy30a.yaml: ok" in result.stdout
    assert re.search(
        rf"{re.escape(str(bad))}:\d+:\d+: channels: List should have at least 1 item", result.stderr
    )


def test_read_of_a_silent_unit_fails_and_says_what_to_check(simulated_pty: Path) -> None:
    # On main: exit 0, and every visible channel said only "skipped: the device stopped answering".
    result = pantau(
        "modbus",
        "read",
        "--port",
        str(simulated_pty),
        "--profile",
        "qdy30a",
        "--unit",
        "9",
        "--timeout",
        "300ms",
    )
    assert result.returncode == 1
    expected = f"unit 9 on bus ({simulated_pty} 9600 8N1): no reply within 0.3 s"
    assert expected in result.stderr
    assert "check the unit id, baud rate and parity, A/B wiring (swap them) and termination" in result.stderr
    assert "skipped" not in result.stdout
    timed_out = [line for line in result.stdout.splitlines() if "missing  timeout" in line]
    assert len(timed_out) == 2  # pressure_unit and water_column (level is derived from water_column)
    assert all("no reply within 0.3 s" in line for line in timed_out)  # every visible channel says why


def test_raw_read_of_a_silent_unit_fails_with_what_to_check(simulated_pty: Path) -> None:
    result = pantau(
        "modbus", "read", "--port", str(simulated_pty), "--unit", "9", "--address", "0", "--timeout", "300ms"
    )
    assert result.returncode == 1
    assert "unit 9 on bus" in result.stderr and "check the unit id" in result.stderr


def test_a_parity_the_port_refuses_is_a_clear_error_not_a_traceback(simulated_pty: Path) -> None:
    # On main: termios.error escaped as a traceback (exit 1 by accident of the crash).
    result = pantau(
        "modbus",
        "read",
        "--port",
        str(simulated_pty),
        "--parity",
        "E",
        "--address",
        "0",
        "--timeout",
        "300ms",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot open {simulated_pty} at 9600 8E1: the port refused these settings" in result.stderr


def test_exceptions_are_named_not_just_numbered(simulated_tcp: int) -> None:
    result = read_over_tcp(simulated_tcp, "--address", "900")
    assert "exception 2 (illegal data address: the device does not map these registers)" in result.stderr


def test_scan_says_what_it_heard_when_nothing_answered_right(pty_pair: SocatPtyPair) -> None:
    """A wrong baud rate or parity shows as bytes that make no frame; a slow device as late replies."""

    def firmware(r: ReadRequest) -> Script:
        if r.unit == 5:  # answers, but later than the scan's timeout
            return [(0.4, register_reply(r.unit, r.function, [1] * r.count))]
        if r.unit == 6:  # what a reply at another parity looks like to the master: no frame at all
            return [(0.0, bytes([0x8F, 0x00, 0xF3, 0x3C, 0x99, 0x01, 0xFE]))]
        return []

    with ScriptedRtuSlave(pty_pair.device_end, firmware, baudrate=9600):
        result = pantau(
            "modbus", "scan", "--port", str(pty_pair.host_end), "--units", "5-7", "--timeout", "250ms"
        )
    assert result.returncode == 1, result.stdout
    assert "unit 5 answered later than --timeout (1 late replies): try a longer --timeout" in result.stdout
    assert "bytes heard that were no Modbus frame" in result.stdout
    assert "no device answered" in result.stdout
