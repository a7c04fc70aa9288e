"""The serial record parsers under fuzzing, for every shipped record profile.

Random bytes almost never pass a checksum, so they would only ever test the checksum. Instead each case
starts from a valid frame written by the encoder (from the profile's own examples), mutates the payload
(fields replaced, dropped, repeated; bytes replaced, inserted, cut) and puts a freshly computed checksum
back, so the frame passes framing and checksum and reaches the layout and the meaning of the fields.
Whatever it holds, the parser returns a record or raises MalformedRecord with a problem; nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.profiles import load_profile
from drivers.serial_records import RecordParser, encode_record, encode_weight_frame
from drivers.serial_records.checksum import append_checksum, split_checksum
from drivers.serial_records.errors import ChecksumMismatch, MalformedRecord
from drivers.serial_records.weighbridge import SampleParser
from pantau.profiles.files import shipped_profiles
from pantau.profiles.records.layouts import DelimitedLayout, WeightStreamLayout
from pantau.profiles.records.profile import DelimiterFraming, RecordProfile
from tests.fuzz.profiles import FUZZ

RECEIVED = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
RECORD_PROFILES = [
    profile for path in shipped_profiles() if isinstance(profile := load_profile(path), RecordProfile)
]


def separator_of(profile: RecordProfile) -> str | None:
    return profile.format.separator if isinstance(profile.format, DelimitedLayout) else None


def unframed(frame: bytes, profile: RecordProfile) -> bytes:
    """The frame as the framer hands it to the parser: without its markers."""
    framing = profile.framing
    if isinstance(framing, DelimiterFraming):
        return frame.removesuffix(framing.delimiter)
    return frame.removeprefix(framing.start).removesuffix(framing.end)


def encoded_seeds(profile: RecordProfile) -> list[bytes]:
    """Payloads (checksum removed) of the profile's valid examples, written again by the encoder."""
    frames: list[bytes] = []
    for case in profile.examples:
        if case.expect is None:
            continue
        printed = case.frame.encode("latin-1")
        if isinstance(profile.format, WeightStreamLayout):
            sample = SampleParser(profile).parse(printed)
            frames.append(unframed(encode_weight_frame(sample.weight_kg, sample.status, profile), profile))
        else:
            record = RecordParser(profile).parse(printed, received_at=RECEIVED)
            frames.append(unframed(encode_record(record, profile), profile))
    if profile.checksum is None:
        return frames
    return [split_checksum(frame, profile.checksum, separator_of(profile)) for frame in frames]


SEEDS = {profile.id: encoded_seeds(profile) for profile in RECORD_PROFILES}

field_texts = (
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
    | st.from_regex(r"-?[0-9]{0,12}(\.[0-9]{0,6})?", fullmatch=True)
    | st.sampled_from(["", "-", "nan", "inf", "-0", "1e308", "99999999999999999999", "2026-02-30 25:61:61"])
    | st.text(max_size=6)
)


@st.composite
def mutated_payloads(draw: st.DrawFn, profile: RecordProfile) -> bytes:
    payload = draw(st.sampled_from(SEEDS[profile.id]))
    separator = separator_of(profile)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if separator is not None and draw(st.booleans()):
            payload = _mutate_fields(draw, payload, separator.encode("latin-1"))
        else:
            payload = _mutate_bytes(draw, payload)
    return payload


def _mutate_fields(draw: st.DrawFn, payload: bytes, separator: bytes) -> bytes:
    fields = payload.split(separator)
    index = draw(st.integers(min_value=0, max_value=len(fields) - 1))
    action = draw(st.sampled_from(["replace", "drop", "repeat", "insert"]))
    text = draw(field_texts).encode("utf-8")
    if action == "replace":
        fields[index] = text
    elif action == "drop":
        del fields[index]
    elif action == "repeat":
        fields.insert(index, fields[index])
    else:
        fields.insert(index, text)
    return separator.join(fields)


def _mutate_bytes(draw: st.DrawFn, payload: bytes) -> bytes:
    at = draw(st.integers(min_value=0, max_value=len(payload)))
    action = draw(st.sampled_from(["replace", "insert", "cut"]))
    chunk = draw(st.binary(min_size=1, max_size=4) | st.sampled_from([b"-", b".", b"0", b" ", b"9" * 20]))
    if action == "replace":
        return payload[:at] + chunk + payload[at + len(chunk) :]
    if action == "insert":
        return payload[:at] + chunk + payload[at:]
    return payload[:at] + payload[at + draw(st.integers(min_value=1, max_value=8)) :]


def with_checksum(payload: bytes, profile: RecordProfile) -> bytes:
    if profile.checksum is None:
        return payload
    return append_checksum(payload, profile.checksum, separator_of(profile))


def assert_parses_or_is_malformed(profile: RecordProfile, frame: bytes) -> None:
    refusal: MalformedRecord | None = None
    try:
        if isinstance(profile.format, WeightStreamLayout):
            SampleParser(profile).parse(frame)
        else:
            RecordParser(profile).parse(frame, received_at=RECEIVED)
    except MalformedRecord as exc:  # anything else escapes and fails the test
        refusal = exc
    if isinstance(refusal, ChecksumMismatch):
        pytest.fail(f"the recomputed checksum was refused, so the fuzzing never got past it: {refusal}")
    if refusal is not None:
        assert refusal.problem.strip(), f"MalformedRecord without a problem for {frame!r}"


def test_every_shipped_record_profile_has_encoded_seeds() -> None:
    assert {p.id for p in RECORD_PROFILES} >= {"generic-wim-csv", "rinstrum-r320"}
    for profile in RECORD_PROFILES:
        assert SEEDS[profile.id], f"{profile.id}: no valid example to start from"
        for payload in SEEDS[profile.id]:  # the seeds themselves parse, so a refusal is the mutation's
            frame = with_checksum(payload, profile)
            if isinstance(profile.format, WeightStreamLayout):
                SampleParser(profile).parse(frame)
            else:
                RecordParser(profile).parse(frame, received_at=RECEIVED)


@pytest.mark.parametrize("profile", RECORD_PROFILES, ids=lambda p: p.id)
@FUZZ
@given(data=st.data())
def test_mutated_frames_with_a_valid_checksum_parse_or_are_malformed(
    profile: RecordProfile, data: st.DataObject
) -> None:
    payload = data.draw(mutated_payloads(profile), label="payload")
    assert_parses_or_is_malformed(profile, with_checksum(payload, profile))
