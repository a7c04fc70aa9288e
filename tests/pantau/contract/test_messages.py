"""The contract models: valid messages round-trip, invalid ones are rejected with a readable reason."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pantau.contract import (
    Axle,
    GatewayClock,
    Quality,
    Reading,
    Readings,
    Reason,
    Tyres,
    Vehicle,
    decode,
    encode,
)
from pantau.contract.examples import example_messages

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", sorted(example_messages()))
def test_every_example_round_trips_model_json_model(kind: str) -> None:
    message = example_messages()[kind]
    assert decode(encode(message)) == message
    assert json.loads(encode(message))["kind"] == kind


# Reading quality rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [(math.nan, "not_a_number"), (math.inf, "over_range"), (-math.inf, "under_range")],
)
def test_non_finite_measurements_become_bad_without_a_number(value: float, reason: str) -> None:
    reading = Reading.measured(value, "m")
    assert reading.quality is Quality.BAD
    assert reading.reason == reason
    assert reading.value is None
    assert "value" not in json.loads(reading.model_dump_json(exclude_none=True))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_can_never_be_put_in_a_reading(value: float) -> None:
    with pytest.raises(ValidationError, match=r"non-finite|finite"):
        Reading(value=value, unit="m")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"quality": "missing", "reason": "timeout", "value": 1.0}, "carries no value"),
        ({"quality": "good"}, "needs a value or text"),
        ({"quality": "suspect", "reason": "spike"}, "needs a value or text"),
        ({"quality": "good", "value": 1.0, "reason": "spike"}, "has no reason"),
        ({"quality": "bad", "value": 1.0}, "needs a reason"),
        ({"quality": "excellent", "value": 1.0}, "Input should be"),
        ({"value": True}, "valid number"),
        ({"value": 1.0, "reason": "Time Out", "quality": "bad"}, "pattern"),
        ({"value": 1.0, "unit": "m H2O"}, "pattern"),
        ({"value": 1.0, "colour": "red"}, "Extra inputs"),
    ],
)
def test_inconsistent_readings_are_rejected(fields: dict[str, Any], problem: str) -> None:
    payload = _readings_payload(channels={"level": fields})
    with pytest.raises(ValueError, match=problem) as caught:
        decode(payload)
    assert "channels.level" in str(caught.value)


def test_numeric_string_is_not_accepted_as_a_value() -> None:
    with pytest.raises(ValueError, match=r"channels\.level\.value"):
        decode(_readings_payload(channels={"level": {"value": "1.5"}}))


def test_quality_maps_to_qartod_flags() -> None:
    # clock_skew is QARTOD's timing test failing softly: the value may be right, its time is suspect.
    assert {q.value: q.qartod_flag for q in Quality} == {
        "good": 1, "suspect": 3, "bad": 4, "missing": 9, "clock_skew": 3
    }  # fmt: skip


def test_a_clock_skew_reading_keeps_its_value_and_needs_a_reason() -> None:
    marked = Reading(value=0.5, unit="m").clock_skewed("clock_ahead", "10 years ahead")
    assert (marked.quality, marked.value, marked.reason, marked.detail) == (
        "clock_skew",
        0.5,
        "clock_ahead",
        "10 years ahead",
    )
    message = Readings(
        site="ampal-mufakat", gateway="gw-1", seq=1, ts=T0, device="wl-1", channels={"level": marked}
    )
    assert decode(encode(message)) == message
    with pytest.raises(ValueError, match="needs a reason"):
        Reading(value=0.5, quality=Quality.CLOCK_SKEW)
    missing = Reading.missing("timeout")
    assert missing.clock_skewed("clock_ahead") is missing


def test_a_gateway_clock_has_a_reason_exactly_when_implausible() -> None:
    not_before = datetime(2026, 11, 28, tzinfo=UTC)
    assert GatewayClock(plausible=True, not_before=not_before).reason is None
    GatewayClock(plausible=False, reason="clock_before_release", not_before=not_before)
    with pytest.raises(ValueError, match="exactly when it is not plausible"):
        GatewayClock(plausible=False, not_before=not_before)
    with pytest.raises(ValueError, match="exactly when it is not plausible"):
        GatewayClock(plausible=True, reason="clock_stepped", not_before=not_before)


# Envelope -----------------------------------------------------------------------------------------------


def test_timestamps_are_normalised_to_utc_and_spelled_with_z() -> None:
    wita = timezone(timedelta(hours=8))
    message = Readings(
        site="s",
        device="d",
        gateway="g",
        seq=0,
        ts=datetime(2026, 11, 28, 14, 0, tzinfo=wita),
        channels={"x": Reading(value=1)},
    )
    assert message.ts == T0
    assert json.loads(encode(message))["ts"] == "2026-11-28T06:00:00.000000Z"


@pytest.mark.parametrize(
    ("ts", "problem"),
    [
        ("2026-11-28T06:00:00", "timezone"),
        ("1970-01-01T00:00:00Z", "gateway clock"),
        ("yesterday", "datetime"),
    ],
)
def test_bad_timestamps_are_rejected(ts: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode(_readings_payload(ts=ts))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("site", "Ampal"),
        ("site", "ampal/hulu"),
        ("device", "wl+1"),
        ("device", "#"),
        ("gateway", ""),
        ("seq", -1),
        ("seq", 2**63),
        ("channels", {}),
        ("channels", {"Level": {"value": 1.0}}),
    ],
)
def test_envelope_fields_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        decode(_readings_payload(**{field: value}))


def test_too_many_channels_are_rejected() -> None:
    channels = {f"c{i}": {"value": float(i)} for i in range(257)}
    with pytest.raises(ValueError, match="channels"):
        decode(_readings_payload(channels=channels))


# Vehicles -------------------------------------------------------------------------------------------------


def test_axle_configuration_follows_jbi_notation() -> None:
    vehicle = example_messages()["vehicle"]
    assert isinstance(vehicle, Vehicle)
    assert vehicle.axle_configuration == "1-2.2"
    semi = _vehicle(
        axles=[Axle(load_kg=6000, tyres=Tyres.SINGLE, spacing_m=3.2)]
        + [Axle(load_kg=9000, tyres=Tyres.DUAL, spacing_m=1.3) for _ in range(4)]
        + [Axle(load_kg=9000, tyres=Tyres.DUAL)],
        groups=[1, 2, 3],
    )
    assert semi.axle_configuration == "1-2.2-2.2.2"


def test_axle_configuration_is_unknown_without_tyres_or_groups() -> None:
    axles = [Axle(load_kg=5000, spacing_m=4.0), Axle(load_kg=9000)]
    assert _vehicle(axles=axles, groups=[1, 1]).axle_configuration is None
    assert _vehicle(axles=axles).axle_configuration is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"groups": [1, 1]}, "hold 2 axles but 3"),
        ({"gvw_kg": -1}, "gvw_kg"),
        ({"gvw_kg": math.inf}, "gvw_kg"),
        ({"speed_kmh": 400}, "speed_kmh"),
        ({"lane": 0}, "lane"),
        ({"source": "camera"}, "source"),
        ({"quality": "missing", "reason": "timeout"}, "missing"),
        ({"quality": "suspect"}, "reason"),
    ],
)
def test_invalid_vehicles_are_rejected(changes: dict[str, object], problem: str) -> None:
    document = json.loads(encode(example_messages()["vehicle"])) | changes
    with pytest.raises(ValueError, match=problem):
        decode(json.dumps(document))


def test_spacing_on_the_last_axle_is_rejected() -> None:
    document = json.loads(encode(example_messages()["vehicle"]))
    document["axles"][-1]["spacing_m"] = 1.3
    with pytest.raises(ValueError, match="last axle"):
        decode(json.dumps(document))


# Property: any valid readings message survives the wire unchanged ------------------------------------------

slugs = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
good = st.builds(
    lambda v, u: Reading(value=v, unit=u), finite, st.sampled_from([None, "m", "mm/h", "°C", "dB"])
)
bad = st.builds(Reading.measured, st.sampled_from([math.nan, math.inf, -math.inf]))
missing = st.builds(lambda r: Reading.missing(r, detail="no reply"), st.sampled_from(list(Reason)))
text = st.builds(lambda t: Reading(value=0, text=t), st.text(min_size=1, max_size=40))
readings = st.builds(
    Readings,
    site=slugs.filter(lambda s: s != "alerts"),
    device=slugs,
    gateway=slugs,
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    # hypothesis wants naive bounds and attaches the zone itself.
    ts=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001
        max_value=datetime(2099, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    channels=st.dictionaries(slugs, st.one_of(good, bad, missing, text), min_size=1, max_size=8),
)


@given(readings)
def test_any_valid_readings_message_round_trips(message: Readings) -> None:
    assert decode(encode(message)) == message


# Helpers -------------------------------------------------------------------------------------------------


def _readings_payload(**changes: object) -> str:
    document: dict[str, object] = {
        "schema_version": 1,
        "kind": "readings",
        "site": "ampal-mufakat",
        "device": "wl-1",
        "gateway": "gw-1",
        "seq": 1,
        "ts": "2026-11-28T06:00:00Z",
        "channels": {"level": {"value": 2.1, "unit": "m"}},
    }
    document.update(changes)
    return json.dumps(document)


def _vehicle(**changes: Any) -> Vehicle:
    fields: dict[str, Any] = {
        "site": "sh-km13",
        "device": "wim-1",
        "gateway": "gw",
        "seq": 1,
        "ts": T0,
        "source": "wim",
        "gvw_kg": 24000,
    }
    return Vehicle(**(fields | changes))
