"""The compiled decoding (drivers/modbus/compiled.py) gives the reference decoder's results, value for value,
on every channel of every shipped profile (and the every-type test profile), for edge and random words."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.modbus.codec import DecodeError
from drivers.modbus.compiled import compile_reading, compile_unpacker, good_reading
from drivers.modbus.decoder import _raw_value, _reading
from drivers.profiles import load_profile
from pantau.contract import Reading
from pantau.profiles.files import shipped_profiles
from pantau.profiles.modbus.profile import ChannelSpec, ModbusProfile

EVERY_TYPE = Path(__file__).parent / "profiles" / "every-type.yaml"
#: Words that hit the corners: signs, NaN and infinities of each float width, all bits set, and beyond a word.
EDGE_WORDS = (0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x7F80, 0xFF80, 0x7FC0, 0x7C00, 0xFC00, 0x7FF0, 0xFFF0, 0x3F80)
RANDOM_CASES = 200


def channels() -> list[tuple[str, ChannelSpec]]:
    found = []
    for path in [*shipped_profiles(), EVERY_TYPE]:
        profile = load_profile(path)
        if isinstance(profile, ModbusProfile):
            found.extend((f"{profile.id}.{spec.id}", spec) for spec in profile.channels)
    return found


def word_lists(spec: ChannelSpec, seed: str) -> list[list[int]]:
    count = spec.register_count
    rng = random.Random(seed)  # noqa: S311 - reproducible test words, not secrets
    cases = [[edge] + [0] * (count - 1) for edge in EDGE_WORDS]
    cases += [[0] * (count - 1) + [edge] for edge in EDGE_WORDS]
    cases += [[rng.randrange(0x10000) for _ in range(count)] for _ in range(RANDOM_CASES)]
    cases += [[0] * (count - 1), [0] * (count + 1), [], [-1] * count, [0x10000] + [0] * (count - 1)]
    return cases


def outcome(function: Callable[[list[int]], object], words: list[int]) -> object:
    """A value (NaN as a marker, since NaN != NaN), or the DecodeError's message."""
    try:
        value = function(words)
    except DecodeError as exc:
        return ("DecodeError", str(exc))
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return (type(value), value)


CHANNELS = channels()
#: Channels with a compiled reading (the rest take the reference path: text, other channels' values, codes).
PLAIN = [(name, spec) for name, spec in CHANNELS if compile_reading(spec) is not None]


@pytest.mark.parametrize(("name", "spec"), CHANNELS, ids=[name for name, _ in CHANNELS])
def test_compiled_unpacking_gives_the_reference_value_or_error(name: str, spec: ChannelSpec) -> None:
    unpack = compile_unpacker(spec, lambda words: _raw_value(spec, words))
    for words in word_lists(spec, name):
        assert outcome(unpack, words) == outcome(lambda w: _raw_value(spec, w), words), (name, words)


@pytest.mark.parametrize(("name", "spec"), PLAIN, ids=[name for name, _ in PLAIN])
def test_compiled_readings_are_the_reference_readings(name: str, spec: ChannelSpec) -> None:
    build = compile_reading(spec)
    assert build is not None
    for words in word_lists(spec, name):
        try:
            raw = _raw_value(spec, words)
        except DecodeError:
            continue  # no value to build a reading of: the decoder reports the decode failure itself
        expected = _reading(spec, {spec.id: raw})
        got = build(raw)
        assert got == expected, (name, words)
        assert got.model_dump_json(exclude_none=True) == expected.model_dump_json(exclude_none=True)
        assert type(got.value) is type(expected.value)  # an exact integer stays an integer


def test_the_compiled_path_covers_the_plain_numbers_of_the_shipped_profiles() -> None:
    # The comparison above is not empty: most shipped channels are plain numbers.
    assert len(PLAIN) >= len(CHANNELS) // 2, [name for name, _ in PLAIN]


@pytest.mark.parametrize(
    ("value", "unit"),
    [(1.5, "m"), (-0.25, None), (0, "mm"), (2**63 - 1, None), (-(2**63), "µm"), (1e300, "m")],
)
def test_a_good_reading_built_without_validation_is_the_validated_one(value: float, unit: str | None) -> None:
    # The contract test of the shortcut into pydantic's model internals: it fails when they move.
    fast, validated = good_reading(value, unit), Reading(value=value, unit=unit)
    assert fast == validated and validated == fast
    assert hash(fast) == hash(validated)
    assert repr(fast) == repr(validated)
    assert fast.model_dump_json(exclude_none=True) == validated.model_dump_json(exclude_none=True)
    assert fast.model_dump() == validated.model_dump()
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.model_copy(update={"unit": "cm"}) == validated.model_copy(update={"unit": "cm"})
    with pytest.raises(Exception, match="frozen"):
        fast.value = 2.0  # type: ignore[misc]
