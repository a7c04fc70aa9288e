"""The Modbus decoder under fuzzing: arbitrary register values (and now and then a short or long reply,
or a failed request) for every channel of every shipped Modbus profile, over a few polls in a row (the
decoder remembers counters between polls), with arbitrary site parameters. Every channel comes back as a
reading that is a value or a named failure (quality and reason), and the poll is a valid Readings message;
never an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.decoder import DeviceDecoder, RawResult, ReadFailure
from drivers.profiles import load_profile
from pantau.contract import Quality, Reading, Readings, codec
from pantau.profiles.files import shipped_profiles
from pantau.profiles.modbus.profile import ModbusProfile
from tests.fuzz.profiles import FUZZ

MODBUS_PROFILES = [
    profile for path in shipped_profiles() if isinstance(profile := load_profile(path), ModbusProfile)
]
TS = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)

words = st.integers(min_value=0, max_value=0xFFFF)
edge_words = st.sampled_from([0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x7F80, 0xFF80, 0x7FC0])


@st.composite
def polls(draw: st.DrawFn, profile: ModbusProfile) -> dict[str, RawResult]:
    raw: dict[str, RawResult] = {}
    for spec in profile.channels:
        shape = draw(st.sampled_from(["words"] * 8 + ["edges", "wrong_length", "failure"]))
        count = spec.register_count
        if shape == "failure":
            raw[spec.id] = ReadFailure(draw(st.sampled_from(["timeout", "crc", "exception"])), "fuzz")
        elif shape == "wrong_length":
            raw[spec.id] = draw(st.lists(words, max_size=count + 2).filter(lambda w, n=count: len(w) != n))
        else:
            raw[spec.id] = draw(
                st.lists(edge_words if shape == "edges" else words, min_size=count, max_size=count)
            )
    return raw


def site_params(profile: ModbusProfile) -> st.SearchStrategy[dict[str, float]]:
    names = sorted({derived.param for derived in profile.derived if derived.param})
    return st.fixed_dictionaries(
        {}, optional={name: st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) for name in names}
    )


def assert_named(channel: str, reading: Reading) -> None:
    if reading.quality in (Quality.GOOD, Quality.SUSPECT):
        assert reading.value is not None or reading.text is not None, f"{channel}: {reading}"
    else:
        assert reading.reason, f"{channel}: a {reading.quality} reading without a reason"


@pytest.mark.parametrize("profile", MODBUS_PROFILES, ids=lambda p: p.id)
@FUZZ
@given(data=st.data())
def test_arbitrary_registers_decode_to_values_or_named_failures(
    profile: ModbusProfile, data: st.DataObject
) -> None:
    decoder = DeviceDecoder(profile, data.draw(site_params(profile), label="params"))
    published = {s.id for s in profile.channels if not s.internal} | {d.id for d in profile.derived}
    for seq in range(data.draw(st.integers(min_value=1, max_value=3), label="polls")):
        readings = decoder.decode(data.draw(polls(profile), label=f"poll {seq}"))
        assert set(readings) == published
        for channel, reading in readings.items():
            assert_named(channel, reading)
        message = Readings(
            site="fuzz-site", device="dev-1", gateway="gw-fuzz", seq=seq, ts=TS, channels=readings
        )
        assert codec.decode(codec.encode(message)) == message


def test_every_shipped_modbus_profile_is_fuzzed() -> None:
    assert {p.id for p in MODBUS_PROFILES} >= {"qdy30a", "vegapuls-c21", "dfrobot-sen0676", "deltaohm-hd2016"}


def test_a_reply_without_the_channels_register_is_a_decode_failure_of_that_channel() -> None:
    """Found by the fuzzing: a bit channel (vegapuls-c21's pv_invalid) given no register raised IndexError
    out of decode(), and with it the whole poll; now the channel alone is bad, with the reason."""
    profile = next(p for p in MODBUS_PROFILES if p.id == "vegapuls-c21")
    decoder = DeviceDecoder(profile, {})
    raw: dict[str, RawResult] = {spec.id: [0] * spec.register_count for spec in profile.channels}
    raw["pv_invalid"] = []
    readings = decoder.decode(raw)
    assert readings["pv_invalid"].quality is Quality.BAD
    assert readings["pv_invalid"].reason == "decode"
    assert readings["pv_invalid"].detail == "expected 1 registers, got 0"
    assert [cid for cid, reading in readings.items() if reading.reason == "decode"] == ["pv_invalid"]
