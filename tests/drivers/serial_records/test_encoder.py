"""The encoder is the parser's inverse: encode -> frame -> parse returns the record, to the format's
resolution (property tests over the generic CSV, a fixed-width layout and the R320 weight stream)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.serial_records import (
    RecordParser,
    SampleParser,
    UnencodableRecord,
    UnsupportedFormat,
    VehicleRecord,
    WeightSample,
    encode_record,
    encode_weight_frame,
    make_framer,
)
from drivers.serial_records.framing import Frame
from pantau.contract import Axle, Dimensions, Quality, Reason, Tyres
from pantau.contract.vehicle_class import normalise_class_code
from pantau.profiles.records.layouts import WeightStatus
from pantau.profiles.records.profile import RecordProfile
from tests.drivers.serial_records.conftest import PROFILE_DIR

RECEIVED = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def quantized(low: float, high: float, step: str) -> st.SearchStrategy[float]:
    """Multiples of `step` in [low, high], computed as the parser computes them (Decimal, then float)."""
    size = Decimal(step)
    first = int((Decimal(str(low)) / size).to_integral_value(rounding="ROUND_CEILING"))
    last = int((Decimal(str(high)) / size).to_integral_value(rounding="ROUND_FLOOR"))
    return st.integers(first, last).map(lambda k: float(Decimal(k) * size))


def timestamps(step_ms: int) -> st.SearchStrategy[datetime]:
    start = datetime(2001, 1, 1, tzinfo=UTC)
    steps = int(timedelta(days=365 * 98) / timedelta(milliseconds=step_ms))
    return st.integers(0, steps).map(lambda k: start + k * timedelta(milliseconds=step_ms))


def expected_groups(axles: list[Axle], max_spacing: float) -> list[int]:
    groups = [1]
    for axle in axles[:-1]:
        assert axle.spacing_m is not None
        if axle.spacing_m < max_spacing:
            groups[-1] += 1
        else:
            groups.append(1)
    return groups


@st.composite
def generic_records(draw: st.DrawFn) -> VehicleRecord:
    """Records the generic WIM CSV can hold: kg, 0.1 km/h, cm, centiseconds."""
    count = draw(st.integers(1, 20))
    loads = [draw(quantized(0, 15_000, "1")) for _ in range(count)]  # GVW, their sum, stays in range
    spacings = [draw(quantized(0.01, 30, "0.01")) for _ in range(count - 1)]
    axles = [
        Axle(load_kg=load, spacing_m=spacing) for load, spacing in zip(loads, [*spacings, None], strict=True)
    ]
    error_code = draw(st.none() | st.text(ALNUM, min_size=1, max_size=6).filter(lambda code: code != "0"))
    dimensions = Dimensions(
        length_m=draw(st.none() | quantized(0.01, 40, "0.01")),
        width_m=draw(st.none() | quantized(0.01, 6, "0.01")),
        height_m=draw(st.none() | quantized(0.01, 8, "0.01")),
    )
    fields: dict[str, Any] = {
        "ts": draw(timestamps(10)),
        "source": "wim",
        "record_id": draw(st.text(ALNUM, min_size=1, max_size=12)),
        "lane": draw(st.integers(1, 16)),
        "direction": draw(st.sampled_from(["1", "2"])),
        "speed_kmh": draw(st.none() | quantized(0, 250, "0.1")),
        "gvw_kg": sum(loads),  # as controllers print it; a mismatch makes the record suspect
        "axles": axles,
        "groups": expected_groups(axles, 2.0),
        # Class codes are published normalised ("08" -> "8"), so only normalised codes survive the trip.
        "vehicle_class": draw(st.none() | st.text(ALNUM, min_size=1, max_size=4).map(normalise_class_code)),
        "dimensions": dimensions if dimensions.model_dump(exclude_none=True) else None,
        "error_code": error_code,
        "quality": Quality.SUSPECT if error_code else Quality.GOOD,
        "reason": Reason.DEVICE_ERROR if error_code else None,
    }
    return VehicleRecord.model_validate(fields)


@st.composite
def fixed_records(draw: st.DrawFn) -> VehicleRecord:
    """Records the test-fixed layout can hold: 10 kg, 0.1 km/h, cm, one-digit lanes, tyres on every axle."""
    count = draw(st.integers(0, 20))
    axles = [
        Axle(
            load_kg=draw(quantized(0, 15_000, "10")),
            tyres=draw(st.sampled_from(Tyres)),
            spacing_m=draw(quantized(0.01, 30, "0.01")) if index < count - 1 else None,
        )
        for index in range(count)
    ]
    error_code = draw(st.none() | st.text(ALNUM, min_size=1, max_size=3).filter(lambda code: code != "000"))
    return VehicleRecord(
        ts=draw(timestamps(10)),
        source="wim",
        record_id=draw(st.text(ALNUM, min_size=1, max_size=6)),
        lane=draw(st.integers(1, 9)),
        direction=draw(st.sampled_from(["north", "south"])),
        speed_kmh=draw(quantized(0, 250, "0.1")),
        gvw_kg=sum(axle.load_kg for axle in axles) if axles else draw(quantized(0, 300_000, "10")),
        axles=axles,
        error_code=error_code,
        quality=Quality.SUSPECT if error_code else Quality.GOOD,
        reason=Reason.DEVICE_ERROR if error_code else None,
    )


def through_the_wire(encoded: bytes, profile: RecordProfile) -> VehicleRecord:
    (frame,) = list(make_framer(profile.framing).feed(encoded))
    assert isinstance(frame, Frame)
    return RecordParser(profile).parse(frame.payload, received_at=RECEIVED)


@settings(max_examples=150)
@given(record=generic_records())
def test_generic_csv_round_trip(wim_profile: RecordProfile, record: VehicleRecord) -> None:
    assert through_the_wire(encode_record(record, wim_profile), wim_profile) == record


@settings(max_examples=150)
@given(record=fixed_records())
def test_fixed_width_round_trip(fixed_profile: RecordProfile, record: VehicleRecord) -> None:
    assert through_the_wire(encode_record(record, fixed_profile), fixed_profile) == record


WEIGHT_STATUSES = st.sampled_from(WeightStatus)


@given(
    weight=quantized(-999_999, 9_999_999, "1"),
    status=WEIGHT_STATUSES,
)
def test_r320_frame_round_trip(r320_profile: RecordProfile, weight: float, status: WeightStatus) -> None:
    encoded = encode_weight_frame(weight, status, r320_profile)
    assert encoded.startswith(b"\x02")
    assert encoded.endswith(b"\x03")
    assert len(encoded) == 11  # STX, sign, 7 weight characters, status, ETX
    (frame,) = list(make_framer(r320_profile.framing).feed(encoded))
    assert isinstance(frame, Frame)
    assert SampleParser(r320_profile).parse(frame.payload) == WeightSample(weight, status)


def test_r320_frame_looks_like_the_manual(r320_profile: RecordProfile) -> None:
    assert encode_weight_frame(31640, WeightStatus.GROSS, r320_profile) == b"\x02   31640G\x03"
    assert encode_weight_frame(-40, WeightStatus.MOTION, r320_profile) == b"\x02-     40M\x03"
    assert encode_weight_frame(None, WeightStatus.OVERLOAD, r320_profile) == b"\x02        O\x03"


def test_the_generic_csv_line_is_the_documented_one(wim_profile: RecordProfile) -> None:
    record = VehicleRecord(
        ts=datetime(2026, 11, 28, 6, 4, 17, 250000, tzinfo=UTC),
        source="wim",
        record_id="412",
        lane=1,
        direction="1",
        speed_kmh=42.5,
        gvw_kg=31640,
        axles=[Axle(load_kg=6120, spacing_m=3.45), Axle(load_kg=12860, spacing_m=1.31), Axle(load_kg=12660)],
        groups=[1, 2],
        vehicle_class="6B",
        dimensions=Dimensions(length_m=9.8, width_m=2.5, height_m=3.9),
    )
    documented = "412,2026-11-28 14:04:17.25,1,1,42.5,6B,31640,3,6120,12860,12660,345,131,980,250,390,0,59"
    assert f"#   {documented}\n" in (PROFILE_DIR / "generic-wim-csv.yaml").read_text()  # the header's example
    assert encode_record(record, wim_profile) == documented.encode() + b"\r\n"


def test_a_regex_format_cannot_be_encoded(regex_profile: RecordProfile) -> None:
    record = VehicleRecord(ts=RECEIVED, source="wim", gvw_kg=1000)
    with pytest.raises(UnsupportedFormat, match="regex, which has no inverse"):
        encode_record(record, regex_profile)


def test_the_wrong_encoder_for_the_profile_says_so(
    wim_profile: RecordProfile, r320_profile: RecordProfile
) -> None:
    with pytest.raises(UnsupportedFormat, match="use encode_weight_frame"):
        encode_record(VehicleRecord(ts=RECEIVED, source="weighbridge", gvw_kg=1000), r320_profile)
    with pytest.raises(UnsupportedFormat, match="no weight-stream output_template"):
        encode_weight_frame(1000, WeightStatus.GROSS, wim_profile)


def test_values_that_would_change_meaning_are_refused(
    wim_profile: RecordProfile, fixed_profile: RecordProfile
) -> None:
    with pytest.raises(UnencodableRecord, match="contains the separator ','"):
        encode_record(VehicleRecord(ts=RECEIVED, source="wim", gvw_kg=1, record_id="4,12"), wim_profile)
    with pytest.raises(UnencodableRecord, match="lane: '12' does not fit 1 characters"):
        encode_record(VehicleRecord(ts=RECEIVED, source="wim", gvw_kg=1, lane=12), fixed_profile)
    with pytest.raises(UnencodableRecord, match="contains a framing marker"):
        encode_record(VehicleRecord(ts=RECEIVED, source="wim", gvw_kg=1, record_id="a\r\nb"), wim_profile)
