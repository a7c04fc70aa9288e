"""Profiles that say something the decoder would not do are errors (issue 21, defect 3): Modicon's 3xxxx/4xxxx
register numbering written as an address, and a scale on a derived channel that never applies it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from drivers.profiles import load_profile
from pantau.cli import cli
from pantau.config import ConfigError
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.profiles.modbus.register_numbers import modicon_problem

CASES = [
    (40107, "holding", "write `register: 107` and `address_base: 1` (sent as address 106)"),
    (30001, "input", "write `register: 1` and `address_base: 1` (sent as address 0)"),
    (10050, "discrete_inputs", "write `register: 50` and `address_base: 1` (sent as address 49)"),
    (400107, "holding", "write `register: 107` and `address_base: 1` (sent as address 106)"),
    (300002, "holding", "write `table: input`, `register: 2` and `address_base: 1` (sent as address 1)"),
    (465536, "holding", "write `register: 65536` and `address_base: 1` (sent as address 65535)"),
]


@pytest.mark.parametrize(("number", "table", "advice"), CASES)
def test_modicon_numbers_say_what_to_write(number: int, table: str, advice: str) -> None:
    problem = modicon_problem(number, table)
    assert problem is not None
    assert problem.startswith(f"register {number} is Modicon numbering")
    assert advice in problem


@pytest.mark.parametrize(
    ("number", "table"),
    [
        (2002, "holding"),
        (40000, "holding"),
        (40107, "input"),
        (10050, "holding"),
        (39999, "holding"),
        (9, "coils"),
    ],
)
def test_plain_numbers_pass(number: int, table: str) -> None:
    assert modicon_problem(number, table) is None


def test_plain_register_numbers_allows_a_high_map() -> None:
    assert modicon_problem(40107, "holding", plain_allowed=True) is None
    assert modicon_problem(400107, "holding", plain_allowed=True) is not None  # past 65535: never an address


PROFILE = """\
id: {id}
protocol: modbus
manufacturer: Keller
model: PR-36XW
address_base: 1
channels:
  - id: pressure
    register: {register}
    type: float32
    unit: bar
    quantity: pressure
derived:
  - id: level
    kind: datum_plus
    source: pressure
    param: datum_m
    unit: m
    quantity: water_level{extra}
"""


def write(tmp_path: Path, *, register: int = 3, extra: str = "", plain: bool = False) -> Path:
    path = tmp_path / "keller.yaml"
    text = PROFILE.format(id="keller", register=register, extra=extra)
    if plain:
        text = text.replace("address_base: 1\n", "address_base: 1\nplain_register_numbers: true\n")
    path.write_text(text)
    return path


def test_a_4xxxx_register_fails_profile_check_with_line_and_advice(tmp_path: Path) -> None:
    path = write(tmp_path, register=40107)
    result = CliRunner().invoke(cli, ["profile", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:7:5: channels[0] 'pressure': register 40107 is Modicon numbering" in result.output
    assert "write `register: 107` and `address_base: 1`" in result.output


def test_a_six_digit_register_names_the_channel(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_profile(write(tmp_path, register=400107))
    assert ":7:5: channels[0] 'pressure': register 400107 is Modicon numbering" in str(caught.value)
    assert "less than or equal" not in str(caught.value)


def test_plain_register_numbers_in_the_profile(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, register=40107, plain=True))
    assert isinstance(profile, ModbusProfile)
    assert profile.wire_address(profile.channels[0]) == 40106


def test_scale_on_a_datum_plus_channel_is_an_error(tmp_path: Path) -> None:
    # The Keller profile that gave a level in "bar plus metres": the scale was accepted and never applied.
    path = write(tmp_path, extra="\n    scale: 10.197")
    result = CliRunner().invoke(cli, ["profile", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:13:5: derived[0] 'level': " in result.output
    assert "scale applies only to counter_increment" in result.output
    assert "put the scale on channel 'pressure'" in result.output


def test_counter_bits_on_a_datum_plus_channel_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="counter_bits applies only to counter_increment"):
        load_profile(write(tmp_path, extra="\n    counter_bits: 16"))


def test_the_profile_without_the_ignored_scale_loads(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path)).id == "keller"
