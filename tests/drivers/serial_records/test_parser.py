"""Record parsing per layout (delimited, fixed, regex) and the malformed records each must reject."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.serial_records import MalformedRecord, RecordParser
from drivers.serial_records.checksum import append_checksum
from pantau.contract import Axle, Dimensions, Quality, Reason, Tyres
from pantau.profiles.records.profile import ChecksumSpec, RecordProfile

RECEIVED = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
CSV_BODY = "412,2026-11-28 14:04:17.25,1,1,42.5,6B,31640,3,6120,12860,12660,345,131,980,250,390,0"


def csv_frame(profile: RecordProfile, body: str | bytes) -> bytes:
    """A generic-wim-csv payload with its XOR-8 checksum field."""
    assert isinstance(profile.checksum, ChecksumSpec)
    data = body.encode("latin-1") if isinstance(body, str) else body
    return append_checksum(data, profile.checksum, ",")


def test_a_generic_wim_record(wim_profile: RecordProfile) -> None:
    record = RecordParser(wim_profile).parse(csv_frame(wim_profile, CSV_BODY), received_at=RECEIVED)
    assert record.ts == datetime(2026, 11, 28, 6, 4, 17, 250000, tzinfo=UTC)  # WITA 14:04 is 06:04 UTC
    assert record.source == "wim"
    assert record.record_id == "412"
    assert (record.lane, record.direction, record.speed_kmh) == (1, "1", 42.5)
    assert record.gvw_kg == 31640
    assert record.axles == [
        Axle(load_kg=6120, spacing_m=3.45),
        Axle(load_kg=12860, spacing_m=1.31),
        Axle(load_kg=12660),
    ]
    assert record.groups == [1, 2]  # 1.31 m is under group_spacing_max_m
    assert record.vehicle_class == "6B"
    assert record.dimensions == Dimensions(length_m=9.8, width_m=2.5, height_m=3.9)
    assert (record.error_code, record.quality, record.reason) == (None, Quality.GOOD, None)


def test_a_controller_error_code_makes_the_record_suspect(wim_profile: RecordProfile) -> None:
    body = CSV_BODY.removesuffix(",0") + ",E17"
    record = RecordParser(wim_profile).parse(csv_frame(wim_profile, body), received_at=RECEIVED)
    assert record.error_code == "E17"
    assert record.quality is Quality.SUSPECT
    assert record.reason == Reason.DEVICE_ERROR


def test_unmeasured_dimensions_are_absent(wim_profile: RecordProfile) -> None:
    body = CSV_BODY.replace(",980,250,390,", ",-,,-,")
    record = RecordParser(wim_profile).parse(csv_frame(wim_profile, body), received_at=RECEIVED)
    assert record.dimensions is None
    partial = CSV_BODY.replace(",980,250,390,", ",980,-,-,")
    record = RecordParser(wim_profile).parse(csv_frame(wim_profile, partial), received_at=RECEIVED)
    assert record.dimensions == Dimensions(length_m=9.8)


def test_a_single_axle_record_has_no_spacings(wim_profile: RecordProfile) -> None:
    body = "9,2026-11-28 14:04:17.25,2,2,12.0,1,900,1,900,,,,0"
    record = RecordParser(wim_profile).parse(csv_frame(wim_profile, body), received_at=RECEIVED)
    assert record.axles == [Axle(load_kg=900)]
    assert record.groups == [1]


def fixed_frame(*, axle_count: str = "03", error_code: str = "000", tyres: str = "SDD") -> bytes:
    """A test-fixed record: 33 characters of fields, the axle block (weights, tyres, spacings), error code."""
    ts = "179584585725"  # centiseconds since 1970: 2026-11-28 06:04:17.25 UTC
    head = f"000412{ts}1N0425 3164XX{axle_count}"
    block = " 612" + "1286" + "1266" + tyres + " 345" + " 131"  # loads in 10 kg, spacings in cm
    payload = f"{head}{block}{error_code}".encode()
    return append_checksum(payload, ChecksumSpec(algorithm="sum8", separator="*", covers_separator=True))


def test_a_fixed_width_record_with_tyres(fixed_profile: RecordProfile) -> None:
    record = RecordParser(fixed_profile).parse(fixed_frame(), received_at=RECEIVED)
    assert record.record_id == "000412"
    assert record.ts == datetime(2026, 11, 28, 6, 4, 17, 250000, tzinfo=UTC)
    assert (record.lane, record.direction) == (1, "north")
    assert record.speed_kmh == 42.5  # 0.1 km/h units
    assert record.gvw_kg == 31640  # 10 kg units
    assert record.axles == [
        Axle(load_kg=6120, tyres=Tyres.SINGLE, spacing_m=3.45),
        Axle(load_kg=12860, tyres=Tyres.DUAL, spacing_m=1.31),
        Axle(load_kg=12660, tyres=Tyres.DUAL),
    ]
    assert record.error_code is None
    assert record.groups is None  # this profile does not derive groups, so no JBI configuration


def test_a_regex_record_adds_up_axles_when_gvw_is_missing(regex_profile: RecordProfile) -> None:
    frame = b"VEH 412 L2 V=42.5 GVW= AX[6120/345;12860/131;12660] C=6B E=W3"
    record = RecordParser(regex_profile).parse(frame, received_at=RECEIVED)
    assert record.ts == RECEIVED  # no time in the format: the gateway's receive time
    assert record.gvw_kg == 6120 + 12860 + 12660
    assert [axle.spacing_m for axle in record.axles] == [3.45, 1.31, None]
    assert (record.vehicle_class, record.error_code, record.quality) == ("6B", "W3", Quality.SUSPECT)


MALFORMED_CSV = [
    # (name, body, field, message fragment)
    ("not ascii", CSV_BODY.replace("6B", "6\xe9"), "record", "byte 0xe9 at position"),
    ("too few fields", CSV_BODY.rsplit(",", 2)[0], "record", "has 15 fields, the format has 17 for 3 axles"),
    (
        "axle count not a number",
        CSV_BODY.replace(",3,6120", ",three,6120"),
        "axle_count",
        "is not an integer",
    ),
    ("too many axles", CSV_BODY.replace(",3,6120", ",21,6120"), "axle_count", "is outside 0..20"),
    ("gvw not a number", CSV_BODY.replace("31640", "31x40"), "gvw", "'31x40' is not a number"),
    ("gvw nan", CSV_BODY.replace("31640", "nan"), "gvw", "'nan' is not a number"),
    ("gvw exponent", CSV_BODY.replace("31640", "3e4"), "gvw", "'3e4' is not a number"),
    ("lane not integer", CSV_BODY.replace(":17.25,1,", ":17.25,L1,"), "lane", "'L1' is not an integer"),
    ("bad time", CSV_BODY.replace("2026-11-28", "28/11/2026"), "ts", "does not match timestamp format"),
    ("missing load", CSV_BODY.replace(",6120,", ",-,"), "axle_weight[0]", "is missing"),
    ("load over contract range", CSV_BODY.replace(",6120,", ",61200,"), None, "axles[0].load_kg = 61200.0"),
    ("zero spacing", CSV_BODY.replace(",345,", ",0,"), None, "axles[0].spacing_m = 0.0"),
    ("lane beyond contract", CSV_BODY.replace(":17.25,1,", ":17.25,17,"), None, "lane = 17"),
    ("unusable direction", CSV_BODY.replace(",1,1,", ",1,to port,"), None, "direction = 'to port'"),
    ("year 1999", CSV_BODY.replace("2026", "1999"), None, "outside 2000..2100"),
]


@pytest.mark.parametrize(
    ("name", "body", "field", "message"), MALFORMED_CSV, ids=[case[0] for case in MALFORMED_CSV]
)
def test_malformed_generic_records(
    wim_profile: RecordProfile, name: str, body: str, field: str | None, message: str
) -> None:
    frame = csv_frame(wim_profile, body)
    with pytest.raises(MalformedRecord, match=re.escape(message)) as caught:
        RecordParser(wim_profile).parse(frame, received_at=RECEIVED)
    assert caught.value.field == field
    assert caught.value.raw == frame[:200]


def test_a_checksum_failure_is_reported_as_such(wim_profile: RecordProfile) -> None:
    frame = csv_frame(wim_profile, CSV_BODY).replace(b"31640", b"31641")
    with pytest.raises(MalformedRecord, match="checksum") as caught:
        RecordParser(wim_profile).parse(frame, received_at=RECEIVED)
    assert type(caught.value).__name__ == "ChecksumMismatch"


@pytest.mark.parametrize(
    ("frame", "field", "message"),
    [
        (fixed_frame(error_code="00"), "error_code", "record is 58 characters and ends inside this field"),
        (fixed_frame(error_code="0000"), "record", "is 60 characters, the format has 59"),
        (fixed_frame(axle_count="04"), "axle_spacing[1]", "ends inside this field (characters 57..60)"),
        (fixed_frame(axle_count="2x"), "axle_count", "is not an integer"),
        (fixed_frame(tyres="SDX"), "axle_tyres[2]", "'X' is not a tyre code (D, S)"),
        (fixed_frame().replace(b"SDD", b"SDS"), "checksum", "does not match"),
    ],
)
def test_malformed_fixed_records(
    fixed_profile: RecordProfile, frame: bytes, field: str, message: str
) -> None:
    with pytest.raises(MalformedRecord, match=re.escape(message)) as caught:
        RecordParser(fixed_profile).parse(frame, received_at=RECEIVED)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("frame", "field", "message"),
    [
        (b"VEH 412 L2 V=42.5 GVW=1 AX[6120/345;x] C=6B", "axles", "axle 1 does not match axle_pattern"),
        # A mismatch names the field where matching stops, and the position (issue 21).
        (b"VEH 412 L2 speed 40", "speed", "' speed 40' does not match the format's pattern at character 10"),
        (b"VEH 412 L2 V=4x2 GVW=1 AX[] C=6B", "gvw", "at character 14 (after field speed, before this one)"),
        (b"VEH 412 LX V=4 GVW=1 AX[] C=6B", "lane", r"this field's part is (?P<lane>\d)"),
        (b"VEH 412 L2 V=4 GVW=1 AX[] C=6B E=", "record", "at character 30 (after field vehicle_class)"),
        (b"VEH 412 L2 V=42.5 GVW= AX[] C=6B", "gvw", "no axle loads to add up"),
    ],
)
def test_malformed_regex_records(
    regex_profile: RecordProfile, frame: bytes, field: str, message: str
) -> None:
    with pytest.raises(MalformedRecord, match=re.escape(message)) as caught:
        RecordParser(regex_profile).parse(frame, received_at=RECEIVED)
    assert caught.value.field == field


@given(frame=st.binary(max_size=120))
def test_random_bytes_only_ever_raise_malformed_record(
    fixed_profile: RecordProfile, regex_profile: RecordProfile, frame: bytes
) -> None:
    # Any other exception would be a parser bug the driver's handling does not expect.
    for profile in (fixed_profile, regex_profile):
        with contextlib.suppress(MalformedRecord):
            RecordParser(profile).parse(frame, received_at=RECEIVED)


@given(fields=st.lists(st.text(alphabet="0123456789-.,: abcE", max_size=12), min_size=1, max_size=22))
def test_random_fields_with_a_valid_checksum_only_raise_malformed_record(
    wim_profile: RecordProfile, fields: list[str]
) -> None:
    with contextlib.suppress(MalformedRecord):
        RecordParser(wim_profile).parse(csv_frame(wim_profile, ",".join(fields)), received_at=RECEIVED)
