"""Every option of a Modbus channel is honoured by its type or refused, naming the channel and the option
(issue 21, defect 6: `order: DCBA` on a `type: bit` channel passed `profile check` and was ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drivers.profiles import load_profile
from pantau.config import ConfigError
from pantau.profiles.modbus.profile import ModbusProfile

HEADER = {"id": "options", "protocol": "modbus", "manufacturer": "pantau tests", "model": "options"}
STATUS = {"id": "status", "register": 1, "type": "uint16"}


def write(tmp_path: Path, *channels: dict[str, object]) -> Path:
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump(HEADER | {"channels": [STATUS, *channels]}, sort_keys=False))
    return path


REFUSED = [
    ({"id": "pump", "register": 2, "type": "bit", "bit": 3, "order": "DCBA"}, "order: DCBA"),
    ({"id": "pump", "register": 2, "type": "bit", "bit": 3, "order": "ABCD"}, "order: ABCD"),
    ({"id": "pump", "register": 2, "table": "coils", "type": "bit", "order": "BADC"}, "order: BADC"),
    ({"id": "dp", "register": 2, "type": "uint8", "byte": "low", "order": "BADC"}, "order: BADC"),
    ({"id": "level", "register": 2, "type": "int16", "order": "CDAB"}, "order: CDAB"),
    ({"id": "level", "register": 2, "type": "uint16", "order": "DCBA"}, "order: DCBA"),
    ({"id": "level", "register": 2, "type": "float16", "order": "CDAB"}, "order: CDAB"),
    ({"id": "serial", "register": 2, "type": "string", "length": 4, "order": "CDAB"}, "order: CDAB"),
    ({"id": "serial", "register": 2, "type": "string", "length": 4, "byte": "low", "order": "BADC"}, "order"),
    ({"id": "dp", "register": 2, "type": "uint8"}, "`byte: high` or `byte: low`"),
    ({"id": "level", "register": 2, "type": "int16", "byte": "high"}, "`byte`"),
    ({"id": "level", "register": 2, "type": "float32", "byte": "low"}, "`byte`"),
    ({"id": "level", "register": 2, "type": "float32", "enum": {0: "ok"}}, "`enum`"),
    ({"id": "serial", "register": 2, "type": "string", "length": 2, "enum": {0: "ok"}}, "`enum`"),
]


@pytest.mark.parametrize(("channel", "named"), REFUSED, ids=[f"{c['type']}-{n}" for c, n in REFUSED])
def test_an_option_a_type_ignores_is_an_error_naming_channel_and_option(
    tmp_path: Path, channel: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_profile(write(tmp_path, channel))
    message = str(caught.value)
    assert f"channel '{channel['id']}'" in message
    assert named in message


ACCEPTED = [
    {"id": "level", "register": 2, "type": "uint16", "order": "BADC"},
    {"id": "level", "register": 2, "type": "float16", "order": "BADC"},
    {"id": "level", "register": 2, "type": "uint32", "order": "DCBA"},
    {"id": "status_hi", "register": 2, "type": "uint8", "byte": "high", "enum": {0: "ok", 1: "fault"}},
    {"id": "dp", "register": 2, "type": "int8", "byte": "low"},
    {"id": "serial", "register": 2, "type": "string", "length": 4, "byte": "low"},
    {"id": "serial", "register": 2, "type": "string", "length": 4, "order": "BADC"},
    {"id": "pump", "register": 2, "type": "bit", "bit": 0},
]


@pytest.mark.parametrize("channel", ACCEPTED, ids=[f"{c['type']}-{c['id']}" for c in ACCEPTED])
def test_options_each_type_honours_are_accepted(tmp_path: Path, channel: dict[str, object]) -> None:
    assert isinstance(load_profile(write(tmp_path, channel)), ModbusProfile)


def test_a_decimal_point_byte_can_scale_the_reading_of_another_register(tmp_path: Path) -> None:
    shared = [
        {"id": "state", "register": 2, "type": "uint8", "byte": "high"},
        {"id": "dp", "register": 2, "type": "uint8", "byte": "low", "internal": True},
        {"id": "level", "register": 3, "type": "int16", "decimals_from": "dp", "unit": "m"},
    ]
    profile = load_profile(write(tmp_path, *shared))
    assert isinstance(profile, ModbusProfile)
