"""Bus entries are keyed by their physical line: two entries on one serial port (through a symlink too), or
one serial server port, are refused with both named; Modbus TCP proper may be entered twice (issue 17)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pantau.cli import cli
from pantau.config import ConfigError
from pantau.profiles.files import read_profile
from pantau.site.config import load_site
from pantau.site.resolve import resolve

SITES = Path(__file__).parents[3] / "firmware_configs" / "sites"
AMPAL: dict[str, Any] = yaml.safe_load((SITES / "ampal-mufakat.yaml").read_text())
KM13: dict[str, Any] = yaml.safe_load((SITES / "soekarno-hatta-km13.yaml").read_text())


def with_second_bus(connection: dict[str, Any], *, first: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ampal's site with its RS-485 bus (connection `first`, if given) and a second Modbus bus holding its
    rain gauge on `connection`."""
    site = copy.deepcopy(AMPAL)
    bus = site["buses"][0]
    if first is not None:
        bus["connection"] = first
    rain = next(d for d in bus["devices"] if d["id"] == "rain")
    bus["devices"].remove(rain)
    site["buses"].append({"id": "rs485-2", "kind": "modbus", "connection": connection, "devices": [rain]})
    return site


def write(tmp_path: Path, site: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        resolve(load_site(path), path, load=read_profile)
    return str(caught.value).splitlines()


def line_of_second_connection(path: Path) -> int:
    rows = path.read_text().splitlines()
    second_bus = rows.index("- id: rs485-2")
    return next(n for n, row in enumerate(rows, 1) if n > second_bus and "connection:" in row)


def test_two_entries_on_one_serial_port_are_refused_naming_both(tmp_path: Path) -> None:
    path = write(tmp_path, with_second_bus({"transport": "rtu", "port": "/dev/ttyUSB0", "baudrate": 19200}))
    line = line_of_second_connection(path)
    assert problems(path) == [
        (
            f"{path}:{line}:3: buses[1] 'rs485-2'.connection: /dev/ttyUSB0 is the line of buses[0] 'rs485-1' "
            "too: two entries would open one line twice and interleave their frames; put all its devices "
            "under one bus entry"
        )
    ]


def test_a_symlink_to_the_same_adapter_is_the_same_line(tmp_path: Path) -> None:
    adapter = tmp_path / "ttyUSB0"
    adapter.touch()
    (tmp_path / "by-id").mkdir()
    by_id = tmp_path / "by-id" / "usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0"
    by_id.symlink_to(adapter)
    site = with_second_bus(
        {"transport": "rtu", "port": str(by_id)}, first={"transport": "rtu", "port": str(adapter)}
    )
    (problem,) = problems(write(tmp_path, site))
    assert (
        f"buses[1] 'rs485-2'.connection: {by_id} ({adapter}) is the line of buses[0] 'rs485-1' too" in problem
    )


def test_two_entries_on_one_serial_server_port_are_refused(tmp_path: Path) -> None:
    server = {"transport": "tcp", "host": "10.0.0.7", "port": 4001, "framing": "rtu"}
    site = with_second_bus(server | {"host": "10.0.0.7".upper()}, first=server)
    (problem,) = problems(write(tmp_path, site))
    assert "buses[1] 'rs485-2'.connection: 10.0.0.7:4001 is the line of buses[0] 'rs485-1' too" in problem


def test_modbus_tcp_proper_may_be_entered_twice(tmp_path: Path) -> None:
    # A Modbus TCP gateway serves several connections and matches replies by transaction id: slow devices
    # can get a bus entry with their own timing.
    server = {"transport": "tcp", "host": "10.0.0.7", "port": 502}
    path = write(tmp_path, with_second_bus(server, first=server))
    assert len(resolve(load_site(path), path, load=read_profile)) == 2


def test_a_serial_server_port_is_not_a_modbus_tcp_server_too(tmp_path: Path) -> None:
    tunnel = {"transport": "tcp", "host": "10.0.0.7", "port": 502, "framing": "rtu"}
    site = with_second_bus({"transport": "tcp", "host": "10.0.0.7", "port": 502}, first=tunnel)
    (problem,) = problems(write(tmp_path, site))
    assert "buses[1] 'rs485-2'.connection: 10.0.0.7:502 is the line of buses[0] 'rs485-1' too" in problem


def test_a_record_stream_on_a_modbus_port_is_refused(tmp_path: Path) -> None:
    site = copy.deepcopy(KM13)
    stream = next(b for b in site["buses"] if b["connection"].get("kind") == "serial")
    site["buses"].append(
        {
            "id": "rs485-x",
            "kind": "modbus",
            "connection": {"transport": "rtu", "port": stream["connection"]["port"]},
            "devices": [{"id": "rain-x", "profile": "deltaohm-hd2016", "unit": 3}],
        }
    )
    (problem,) = problems(write(tmp_path, site))
    index = len(site["buses"]) - 1
    assert f"buses[{index}] 'rs485-x'.connection: /dev/ttyS0 is the line of buses[" in problem
    assert f"'{stream['id']}' too" in problem


def test_gateway_check_refuses_it(tmp_path: Path) -> None:
    path = write(tmp_path, with_second_bus({"transport": "rtu", "port": "/dev/ttyUSB0"}))
    result = CliRunner().invoke(cli, ["gateway", "check", "--config", str(path)])
    assert result.exit_code == 1
    assert (
        "buses[1] 'rs485-2'.connection: /dev/ttyUSB0 is the line of buses[0] 'rs485-1' too" in result.output
    )
