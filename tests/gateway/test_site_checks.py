"""Site files: a setting the gateway would silently ignore is an error, and every cross-check names the line
and column where the setting was written (issue 21, defect 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.profiles import load_profile
from gateway.inventory import build_bus, resolve_site
from pantau.config import ConfigError
from pantau.profiles.files import find_profile, read_profile
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.site.config import load_site
from pantau.site.resolve import ResolvedModbusBus, resolve

SITES = Path(__file__).parents[2] / "firmware_configs" / "sites"


def write(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (SITES / name).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        resolve_site(load_site(path), path)
    return str(caught.value).splitlines()


def position(path: Path, needle: str) -> str:
    """`line:column` of the first occurrence of `needle` in the file."""
    for number, row in enumerate(path.read_text().splitlines(), 1):
        if needle in row:
            return f"{number}:{row.index(needle) + 1}"
    raise AssertionError(needle)


WIM = "device: {id: wim-1, profile: generic-wim-csv}"


@pytest.mark.parametrize(
    "setting", ["unit: 3", "address_base: 1", "poll_interval: 1s", "params: {datum_m: 1}"]
)
def test_modbus_settings_on_a_record_stream_are_errors(tmp_path: Path, setting: str) -> None:
    path = write(
        tmp_path,
        "soekarno-hatta-km13.yaml",
        WIM,
        f"device: {{id: wim-1, profile: generic-wim-csv, {setting}}}",
    )
    key = setting.split(":", maxsplit=1)[0]
    where = f"{path}:{position(path, key + ':')}: buses[0] 'wim-link'.device 'wim-1'.{key}"
    assert problems(path) == [f"{where}: a record stream does not use it (it applies to Modbus devices)"]


def test_a_disabled_record_stream_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "soekarno-hatta-km13.yaml",
        WIM,
        "device: {id: wim-1, profile: generic-wim-csv, enabled: false}",
    )
    (problem,) = problems(path)
    assert problem.startswith(
        f"{path}:{position(path, 'enabled')}: buses[0] 'wim-link'.device 'wim-1'.enabled: "
    )
    assert "a record stream cannot be disabled" in problem


def test_a_road_class_on_a_river_gauge_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "ampal-mufakat.yaml", "kind: river_gauge\n", "kind: river_gauge\nroad_class: II\n")
    where = f"{path}:{position(path, 'road_class')}: road_class"
    assert problems(path) == [
        f"{where}: a river_gauge site has no road; road_class applies to wim, weighbridge and mixed sites"
    ]


def test_cross_checks_name_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ampal-mufakat.yaml",
        "params: {mounting_height_m: 6.20}",
        "params: {mounting_heigth_m: 6.20}",
    )
    found = problems(path)
    assert found[-1].endswith(
        "params.mounting_heigth_m: profile vegapuls-c21 uses no such parameter "
        "(did you mean 'mounting_height_m'?)"
    )
    assert (
        f"{path}:{position(path, 'mounting_heigth_m')}: buses[0] 'rs485-1'.devices[0] 'wl-radar'.params."
        in (found[-1])
    )
    assert all(line.startswith(f"{path}:") and line.split(":")[1].isdigit() for line in found), found


def test_the_shipped_sites_pass() -> None:
    for path in sorted(SITES.glob("*.yaml")):
        assert resolve_site(load_site(path), path)


def test_an_address_base_override_revalidates_the_profile_as_written(tmp_path: Path) -> None:
    # Defaults written back on the round trip looked set: `order: ABCD` on the radar's status bit.
    path = write(
        tmp_path, "ampal-mufakat.yaml", "        unit: 246\n", "        unit: 246\n        address_base: 1\n"
    )
    (bus, *_) = resolve_site(load_site(path), path)
    assert isinstance(bus, ResolvedModbusBus)
    _, devices = build_bus(bus)
    shipped = load_profile(find_profile("vegapuls-c21"))
    assert devices[0].profile.address_base == 1
    assert isinstance(shipped, ModbusProfile)
    assert devices[0].profile.channels == shipped.channels


def test_a_late_reply_window_on_modbus_tcp_is_an_error(tmp_path: Path) -> None:
    # pymodbus matches Modbus TCP replies by transaction id: the RTU line's late-reply listening is not there.
    old = "    timing: {timeout: 1s, inter_frame_delay: 20ms, retries: 1}\n"
    path = write(tmp_path, "ampal-mufakat.yaml", old, "    timing: {timeout: 1s, late_reply_window: 2s}\n")
    rtu = 'transport: rtu, port: /dev/ttyUSB0, baudrate: 9600, parity: "N", stopbits: 1'
    text = path.read_text()
    path.write_text(text.replace(rtu, "transport: tcp, host: 192.168.1.20"))
    where = f"{path}:{position(path, 'late_reply_window')}: buses[0] 'rs485-1'.timing.late_reply_window"
    message = "applies to RTU framing (a serial port, or framing: rtu through a serial server)"
    assert problems(path) == [f"{where}: {message}; Modbus TCP matches replies by transaction id"]
    path.write_text(text.replace(rtu, "transport: tcp, host: 192.168.1.20, framing: rtu"))
    assert resolve_site(load_site(path), path)
    path.write_text(text)  # RTU on a serial port
    assert resolve_site(load_site(path), path)


def test_a_deadband_on_a_channel_never_published_is_an_error(tmp_path: Path) -> None:
    old = "        params: {mounting_height_m: 6.20}"
    new = old + "\n        report_on_change: {deadband: {status: 1, levle: 0.01}}"
    path = write(tmp_path, "ampal-mufakat.yaml", old, new)
    where = f"{path}:{{}}: buses[0] 'rs485-1'.devices[0] 'wl-radar'.report_on_change.deadband"
    assert problems(path) == [
        where.format(position(path, "levle"))
        + ".levle: profile vegapuls-c21 has no such channel (did you mean 'level'?)",
        where.format(position(path, "status: 1"))
        + ".status: 'status' is internal to profile vegapuls-c21 (read for other channels, never "
        "published): a deadband does nothing",
    ]


def test_a_misspelt_profile_names_the_nearest_shipped_one(tmp_path: Path) -> None:
    path = write(tmp_path, "ampal-mufakat.yaml", "profile: qdy30a", "profile: qdy31a")
    (problem,) = problems(path)
    assert problem == (
        f"{path}:{position(path, 'profile: qdy31a')}: buses[0] 'rs485-1'.devices[1] 'wl-pressure'.profile: "
        "'qdy31a' is neither a file next to this one nor a shipped profile (did you mean 'qdy30a'?)"
    )


def test_a_record_profile_whose_example_does_not_parse_is_refused_by_the_gateway_only(tmp_path: Path) -> None:
    # The gateway resolves with the drivers' loader, which runs a record profile's examples through its
    # parser; the backend reads the same profile for what the device measures and does without the parser.
    profile = (find_profile("generic-wim-csv").read_text()).replace("speed_kmh: 42.5", "speed_kmh: 24.5", 1)
    (tmp_path / "generic-wim-csv.yaml").write_text(profile)
    path = write(
        tmp_path, "soekarno-hatta-km13.yaml", "profile: generic-wim-csv}", "profile: generic-wim-csv.yaml}"
    )
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:")
    assert "buses[0] 'wim-link'.device 'wim-1'.profile: " in problem
    assert problem.endswith("examples[0]: speed_kmh: parsed 42.5, expected 24.5")
    assert resolve(load_site(path), path, load=read_profile)
