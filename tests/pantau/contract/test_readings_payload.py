"""The gateway's readings payload is `encode(Readings(...))` byte for byte, and refuses what Readings does."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from drivers.modbus.decoder import DeviceDecoder
from drivers.profiles import load_profile
from pantau.contract import Quality, Reading, Readings, Reason, decode, encode
from pantau.contract.readings_payload import readings_payload
from pantau.profiles.files import shipped_profiles
from pantau.profiles.modbus.profile import ModbusProfile

TS = datetime(2026, 12, 3, 6, 0, 1, 123456, tzinfo=UTC)
PARAMS = {"mounting_height_m": 6.2, "datum_m": -0.35}


def reference(**fields: object) -> bytes:
    return encode(Readings.model_validate(fields))


def decoded_polls() -> list[tuple[str, dict[str, Reading]]]:
    """Readings of every shipped Modbus profile from random words: numbers, text, codes, failures."""
    rng = random.Random(18)  # noqa: S311 - reproducible words, not secrets
    polls = []
    for path in shipped_profiles():
        profile = load_profile(path)
        if not isinstance(profile, ModbusProfile):
            continue
        decoder = DeviceDecoder(profile, PARAMS)
        for _ in range(30):
            raw = {
                spec.id: [rng.randrange(0x10000) for _ in range(spec.register_count)]
                for spec in profile.channels
            }
            polls.append((profile.id, decoder.decode(raw)))
    return polls


POLLS = decoded_polls()


@pytest.mark.parametrize(("profile", "channels"), POLLS, ids=[f"{p}-{i}" for i, (p, _) in enumerate(POLLS)])
def test_decoded_polls_encode_as_the_model_does(profile: str, channels: dict[str, Reading]) -> None:
    fields = {"site": "ampal-mufakat", "device": profile, "gateway": "gw-1", "seq": 7, "ts": TS}
    payload = readings_payload(**fields, channels=channels)  # type: ignore[arg-type]
    assert payload == reference(**fields, channels=channels)
    assert decode(payload) == Readings.model_validate({**fields, "channels": channels})


@pytest.mark.parametrize(
    "reading",
    [
        Reading(value=2**63 - 1),
        Reading(value=-(2**63), unit="mm"),
        Reading(value=1e-300, unit="m"),
        Reading(value=-1.5e300),
        Reading(value=0.1 + 0.2, unit="m³/s"),
        Reading(text='serial "7\\x" \u00b5 \ufffd'),
        Reading.missing("timeout", "unit 1 on bus: no reply within 1 s; it has not answered \u2026"),
        Reading(value=3, text="ok"),
        Reading(value=9.5, unit="m").clock_skewed(Reason.CLOCK_STEPPED, "stepped +3600 s"),
        Reading(value=41.0, unit="m").model_copy(
            update={
                "quality": Quality.SUSPECT,
                "reason": Reason.OUT_OF_PHYSICAL_RANGE,
                "detail": "41 outside",
            }
        ),
        Reading(unit="m", quality=Quality.BAD, reason="decode", detail="control \x01\x1f and \t tab"),
    ],
)
def test_every_kind_of_reading_encodes_as_the_model_does(reading: Reading) -> None:
    fields = {"site": "s", "device": "d", "gateway": "g", "seq": 0, "ts": TS, "channels": {"c": reading}}
    assert readings_payload(**fields) == reference(**fields)  # type: ignore[arg-type]


def test_a_time_in_another_zone_is_written_in_utc() -> None:
    local = TS.astimezone(timezone(timedelta(hours=8)))
    fields = {
        "site": "s",
        "device": "d",
        "gateway": "g",
        "seq": 1,
        "ts": local,
        "channels": {"c": Reading(value=1)},
    }
    assert readings_payload(**fields) == reference(**fields)  # type: ignore[arg-type]
    assert b'"ts":"2026-12-03T06:00:01.123456Z"' in readings_payload(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("site", "Ampal"),
        ("device", "a/b"),
        ("gateway", ""),
        ("seq", -1),
        ("seq", 2**63),
        ("ts", datetime(1999, 12, 31, 23, 59, tzinfo=UTC)),
        ("ts", datetime(2100, 1, 1, tzinfo=UTC)),
        ("ts", datetime(2026, 12, 3)),  # noqa: DTZ001 - the naive time being refused
        ("channels", {}),
        ("channels", {"Bad Name": Reading(value=1)}),
        ("channels", {f"c{i}": Reading(value=i) for i in range(257)}),
    ],
)
def test_what_readings_refuses_is_refused_the_same_way(field: str, value: object) -> None:
    fields: dict[str, object] = {"site": "s", "device": "d", "gateway": "g", "seq": 1, "ts": TS}
    fields["channels"] = {"c": Reading(value=1)}
    fields[field] = value
    with pytest.raises(ValidationError) as expected:
        Readings.model_validate(fields)
    with pytest.raises(ValidationError) as got:
        readings_payload(**fields)  # type: ignore[arg-type]
    assert got.value.errors(include_context=False) == expected.value.errors(include_context=False)
