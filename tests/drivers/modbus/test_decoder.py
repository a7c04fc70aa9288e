"""Raw poll results -> Readings: every quality rule, table by table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.modbus.decoder import DeviceDecoder, ReadFailure, counter_delta
from drivers.modbus.encoder import encode_number
from drivers.profiles import load_profile
from pantau.contract import Quality
from pantau.profiles.modbus.profile import DataType, ModbusProfile


def profile(channels: list[dict[str, Any]], derived: list[dict[str, Any]] | None = None) -> ModbusProfile:
    return ModbusProfile.model_validate(
        {
            "id": "t",
            "protocol": "modbus",
            "manufacturer": "m",
            "model": "m",
            "channels": channels,
            "derived": derived or [],
        }
    )


F32 = {"type": "float32", "unit": "m"}


def test_a_failed_request_marks_only_its_channels_missing() -> None:
    decoder = DeviceDecoder(profile([{"id": "a", "register": 0, **F32}, {"id": "b", "register": 10, **F32}]))
    readings = decoder.decode(
        {"a": ReadFailure("timeout", "no reply"), "b": encode_number(1.5, DataType.FLOAT32)}
    )
    assert readings["a"].quality is Quality.MISSING and readings["a"].reason == "timeout"
    assert readings["b"].value == 1.5 and readings["b"].quality is Quality.GOOD


@pytest.mark.parametrize(
    ("words", "quality", "reason"),
    [
        ([0x7FC0, 0], Quality.BAD, "not_a_number"),
        ([0x7F80, 0], Quality.BAD, "over_range"),
        ([0xFF80, 0], Quality.BAD, "under_range"),
        ([0x4248, 0], Quality.SUSPECT, "out_of_physical_range"),
        ([0x4000, 0], Quality.GOOD, None),
    ],
)
def test_float_quality(words: list[int], quality: Quality, reason: str | None) -> None:
    decoder = DeviceDecoder(profile([{"id": "level", "register": 0, "range": [0, 30], **F32}]))
    reading = decoder.decode({"level": words})["level"]
    assert (reading.quality, reading.reason) == (quality, reason)
    if quality is Quality.BAD:
        assert reading.value is None
    else:
        assert reading.value in (50.0, 2.0)


def test_decimal_places_come_from_another_register() -> None:
    channels = [
        {"id": "decimals", "register": 3, "internal": True},
        {"id": "level", "register": 4, "type": "int16", "decimals_from": "decimals", "unit": "m"},
    ]
    decoder = DeviceDecoder(profile(channels))
    assert decoder.decode({"decimals": [3], "level": [2173]})["level"].value == 2.173
    assert decoder.decode({"decimals": [1], "level": [0xFFF6]})["level"].value == -1.0
    assert "decimals" not in decoder.decode({"decimals": [0], "level": [5]})
    bad = decoder.decode({"decimals": [9], "level": [5]})["level"]
    assert (bad.quality, bad.reason) == (Quality.BAD, "bad_scale")
    unread = decoder.decode({"decimals": ReadFailure("timeout"), "level": [5]})["level"]
    assert (unread.quality, unread.reason) == (Quality.MISSING, "scale_unavailable")


def test_unit_codes_convert_to_the_channel_unit() -> None:
    channels = [
        {"id": "unit", "register": 2, "enum": {3: "bar", 7: "mH2O"}},
        {
            "id": "head",
            "register": 4,
            "type": "int16",
            "scale": 0.01,
            "unit": "m",
            "unit_from": {"channel": "unit", "factors": {7: 1.0, 3: 10.197}},
        },
    ]
    decoder = DeviceDecoder(profile(channels))
    assert decoder.decode({"unit": [7], "head": [215]})["head"].value == 2.15
    assert decoder.decode({"unit": [3], "head": [21]})["head"].value == pytest.approx(2.14137)
    unknown = decoder.decode({"unit": [8], "head": [215]})["head"]
    assert (unknown.quality, unknown.reason) == (Quality.BAD, "unknown_unit")


def test_enums_keep_the_code_and_name_it() -> None:
    decoder = DeviceDecoder(profile([{"id": "status", "register": 0, "enum": {0: "ok", 1: "failure"}}]))
    ok = decoder.decode({"status": [0]})["status"]
    assert (ok.value, ok.text, ok.quality) == (0, "ok", Quality.GOOD)
    odd = decoder.decode({"status": [7]})["status"]
    assert (odd.value, odd.quality, odd.reason) == (7, Quality.SUSPECT, "unknown_code")


def test_status_bits_invalidate_a_value() -> None:
    channels = [
        {"id": "pv_invalid", "register": 100, "type": "bit", "bit": 0},
        {"id": "level", "register": 2002, "invalid_when": {"pv_invalid": [1]}, **F32},
    ]
    decoder = DeviceDecoder(profile(channels))
    words = encode_number(2.5, DataType.FLOAT32)
    assert decoder.decode({"pv_invalid": [0b10], "level": words})["level"].quality is Quality.GOOD
    flagged = decoder.decode({"pv_invalid": [0b11], "level": words})["level"]
    assert (flagged.quality, flagged.reason, flagged.value) == (Quality.BAD, "device_status", 2.5)


def test_strings_and_bits() -> None:
    channels = [
        {"id": "serial", "register": 0, "type": "string", "length": 2},
        {"id": "alarm", "register": 5, "table": "coils", "type": "bit"},
    ]
    readings = DeviceDecoder(profile(channels)).decode({"serial": [0x4142, 0x4300], "alarm": [1]})
    assert readings["serial"].text == "ABC" and readings["serial"].value is None
    assert readings["alarm"].value == 1.0


def test_height_minus_needs_its_site_parameter() -> None:
    spec = profile(
        [{"id": "distance", "register": 0, **F32}],
        [
            {
                "id": "level",
                "kind": "height_minus",
                "source": "distance",
                "param": "mounting_height_m",
                "unit": "m",
            }
        ],
    )
    words = {"distance": encode_number(3.75, DataType.FLOAT32)}
    assert DeviceDecoder(spec, {"mounting_height_m": 6.0}).decode(words)["level"].value == 2.25
    unset = DeviceDecoder(spec).decode(words)["level"]
    assert (unset.quality, unset.reason) == (Quality.MISSING, "not_configured")
    dead = DeviceDecoder(spec, {"mounting_height_m": 6.0}).decode({"distance": [0x7FC0, 0]})["level"]
    assert (dead.quality, dead.reason) == (Quality.MISSING, "source_unavailable")


@pytest.mark.parametrize(
    ("previous", "current", "delta", "reason"),
    [
        (100, 150, 50, None),
        (2**32 - 10, 5, 15, None),
        (3_000_000, 40, 40, "counter_reset"),
        (10, 10, 0, None),
        (2**31 + 5, 2**31 - 5, 2**31 - 5, "counter_reset"),
    ],
)
def test_counter_delta_handles_wrap_and_reset(
    previous: int, current: int, delta: int, reason: str | None
) -> None:
    assert counter_delta(previous, current, 32) == (delta, reason)


def test_counter_increment_over_polls() -> None:
    spec = profile(
        [{"id": "total", "register": 4, "table": "input", "type": "uint32"}],
        [{"id": "rain", "kind": "counter_increment", "source": "total", "scale": 0.001, "unit": "mm"}],
    )
    decoder = DeviceDecoder(spec)
    first = decoder.decode({"total": [0, 1000]})["rain"]
    assert (first.quality, first.reason) == (Quality.MISSING, "no_previous_sample")
    assert decoder.decode({"total": [0, 1200]})["rain"].value == 0.2
    assert decoder.decode({"total": ReadFailure("timeout")})["rain"].quality is Quality.MISSING
    assert decoder.decode({"total": [0, 1700]})["rain"].value == 0.5  # a missed poll loses no rain
    reset = decoder.decode({"total": [0, 200]})["rain"]
    assert (reset.value, reset.quality, reset.reason) == (0.2, Quality.SUSPECT, "counter_reset")


def test_register_numbers_and_scaling_by_hand_not_through_the_encoder() -> None:
    # The simulator builds its registers with the encoder, the exact inverse of the decoder, so a mistake
    # made consistently in both (address base, offset sign) would pass every round trip. Hand figures:
    every = load_profile(Path(__file__).parent / "profiles" / "every-type.yaml")
    assert every.address_base == 1
    channels = {spec.id: spec for spec in every.channels}
    # register numbers as printed in a manual that counts from 1: register 1 is wire address 0
    assert every.wire_address(channels["i16"]) == 0
    assert every.wire_address(channels["scaled"]) == 27
    assert every.wire_address(channels["temperature"]) == 100
    readings = DeviceDecoder(every).decode(
        {"scaled": [265], "i16": [0xFFFE], "temperature": [0x41AA, 0x0000]}  # 0x41AA0000 = 21.25
    )
    assert readings["scaled"].value == pytest.approx(21.5)  # 265 x 0.1 - 5
    assert readings["i16"].value == -2
    assert readings["temperature"].value == 21.25
