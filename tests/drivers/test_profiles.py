"""Profiles load, and bad ones fail with errors naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.profiles import load_profile
from pantau.config import ConfigError
from pantau.profiles.files import PROFILE_DIR, find_profile, shipped_profiles

GOOD = """
id: {id}
protocol: modbus
manufacturer: test
model: test
channels:
  - id: level
    register: 10
    type: float32
    unit: m
"""


def write(tmp_path: Path, text: str, name: str = "dev") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", shipped_profiles(), ids=lambda p: p.stem)
def test_every_shipped_profile_loads(path: Path) -> None:
    assert load_profile(path).id == path.stem


def test_a_good_profile_loads(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path, GOOD.format(id="dev"))).id == "dev"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("type: float32", "type: float23"),
            r"channels\[0\] 'level'\.type: Input should be 'int8', 'uint8', 'int16', 'uint16'",
        ),
        (("register: 10", "register: -1"), r"channels\[0\] 'level'\.register: Input should be greater than"),
        (
            ("unit: m", "unit: m\n    colour: red"),
            r"channels\[0\] 'level'\.colour: Extra inputs are not permitted",
        ),
        (("protocol: modbus", "protocol: bacnet"), r"protocol: 'bacnet' is not one of"),
        (("type: float32", "type: string"), r"`length` \(registers\) is required for type 'string'"),
        (
            ("unit: m", "unit: m\n    decimals_from: nowhere"),
            r"decimals_from must name an int8/uint8/int16/uint16 channel",
        ),
        (("id: dev", "id: other"), r"id: 'other' must match the file name 'dev'"),
    ],
)
def test_bad_profiles_name_file_and_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = write(tmp_path, GOOD.format(id="dev").replace(*change))
    with pytest.raises(ConfigError, match=message) as caught:
        load_profile(path)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize(
    ("text", "message"), [("- a\n- b\n", "mapping at the top level"), ("a: [", "not valid YAML")]
)
def test_unreadable_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_profile(write(tmp_path, text))


def test_find_profile_by_shipped_id_or_path(tmp_path: Path) -> None:
    assert find_profile("vegapuls-c21") == PROFILE_DIR / "vegapuls-c21.yaml"
    own = write(tmp_path, GOOD.format(id="dev"))
    assert find_profile(str(own)) == own
    with pytest.raises(ConfigError, match=r"shipped: .*vegapuls-c21"):
        find_profile("vegapuls-c99")
