"""What a record profile checks and adds beyond the layout: GVW against the axle loads, the controller's
vehicle classes (JBI configuration and tyres, codes normalised), the axle-group spacing threshold, and the
text encoding (over a real TCP link, where the bytes matter)."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from backend.rules.kinds.odol.config import OdolRule
from backend.rules.kinds.odol.evaluator import judge
from backend.rules.limits import default_jbi, default_road_classes
from drivers.serial_records import MalformedRecord, RecordParser, VehicleRecord
from drivers.serial_records.checksum import append_checksum
from pantau.config import ConfigError
from pantau.contract import Quality, Reason, Tyres
from pantau.contract.vehicle_class import normalise_class_code
from pantau.profiles.records.profile import RecordProfile
from tests.backend.rules.helpers import rule
from tests.drivers.serial_records.conftest import make_profile
from tests.drivers.serial_records.fleet import INTERLEAVED_DOC, Truck
from tests.drivers.serial_records.test_stream import running, take, tcp_device, tcp_stream

RECEIVED = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
CSV_BODY = "412,2026-11-28 14:04:17.25,1,1,42.5,6B,{gvw},3,6120,12860,12660,345,131,980,250,390,{error}"
#: A tronton (1.1-2.2, class 04 here) whose twin steering axles sit 2.8 m apart.
TRONTON = Truck("000500", "04", 35.0, [5200, 5100, 9800, 9900], [2.8, 4.4, 1.31])


def with_values(**changes: Any) -> RecordProfile:
    """The interleaved fixed-width test profile with `values` changed."""
    document = copy.deepcopy(INTERLEAVED_DOC)
    document["values"] |= changes
    return make_profile(document)


def csv_record(profile: RecordProfile, gvw: int, error: str = "0") -> VehicleRecord:
    assert profile.checksum is not None
    body = CSV_BODY.format(gvw=gvw, error=error).encode("ascii")
    return RecordParser(profile).parse(append_checksum(body, profile.checksum, ","), received_at=RECEIVED)


def parse(profile: RecordProfile, truck: Truck | bytes) -> VehicleRecord:
    line = truck.line if isinstance(truck, Truck) else truck
    return RecordParser(profile).parse(line.removesuffix(b"\r\n"), received_at=RECEIVED)


# GVW against the axle loads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gvw", "quality", "reason"),
    [
        (31640, Quality.GOOD, None),  # the axles' sum
        (33200, Quality.GOOD, None),  # 4.7 % over: within 5 %
        (30100, Quality.GOOD, None),  # 4.9 % under
        (33400, Quality.SUSPECT, "gvw_axle_sum_mismatch"),  # 5.3 % over
        (3164, Quality.SUSPECT, "gvw_axle_sum_mismatch"),  # a GVW column read a digit short
    ],
)
def test_gvw_is_checked_against_the_axle_loads(
    wim_profile: RecordProfile, gvw: int, quality: Quality, reason: str | None
) -> None:
    record = csv_record(wim_profile, gvw)
    assert (record.gvw_kg, record.quality, record.reason) == (gvw, quality, reason)  # kept as printed


def test_the_gvw_tolerance_is_the_profile_s(wim_profile: RecordProfile) -> None:
    values = wim_profile.values
    strict = wim_profile.model_copy(update={"values": values.model_copy(update={"gvw_tolerance_pct": 1.0})})
    off = wim_profile.model_copy(update={"values": values.model_copy(update={"gvw_tolerance_pct": None})})
    assert csv_record(strict, 32100).reason == "gvw_axle_sum_mismatch"  # 1.4 % over
    assert csv_record(off, 3164).quality is Quality.GOOD


@pytest.mark.parametrize(("gvw", "quality"), [(b"000159", Quality.GOOD), (b"000165", Quality.SUSPECT)])
def test_what_rounding_explains_is_no_mismatch(gvw: bytes, quality: Quality) -> None:
    # A motorcycle: axles printed in 10 kg steps (70 + 80 kg), GVW to the kg. 159 kg is 5.7 % off the
    # axles' 150 but within the rounding of three printed figures (5 + 5 + 0.5 kg); 165 kg is not.
    line = Truck("000600", "01", 30.0, [70, 80], [1.3]).line
    record = parse(with_values(), line[:13] + gvw + line[19:])
    assert (record.gvw_kg, record.quality) == (int(gvw), quality)


def test_a_controller_error_comes_before_a_gvw_mismatch(wim_profile: RecordProfile) -> None:
    record = csv_record(wim_profile, 40000, error="E17")
    assert (record.quality, record.reason) == (Quality.SUSPECT, Reason.DEVICE_ERROR)


# Vehicle classes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "normalised"), [("08", "8"), (8, "8"), (" 8 ", "8"), ("0", "0"), ("000", "0"), ("6B", "6B")]
)
def test_class_codes_are_normalised(code: object, normalised: str) -> None:
    assert normalise_class_code(code) == normalised


def test_a_class_code_of_thousands_of_digits_is_malformed_not_a_crash() -> None:
    # int() refuses strings over 4,300 digits; the normalisation must not go through it.
    profile = make_profile(
        LATIN1_DOC,
        framing={"kind": "lines", "max_length": 8000},
        format={"kind": "delimited", "separator": ";", "fields": ["record_id", "vehicle_class", "gvw"]},
        values={},
    )
    padded = RecordParser(profile).parse(b"17;" + b"0" * 4999 + b"8;12000", received_at=RECEIVED)
    assert padded.vehicle_class == "8"
    with pytest.raises(MalformedRecord, match=r"vehicle_class = '9{100}"):  # too long for a label
        RecordParser(profile).parse(b"17;" + b"9" * 5000 + b";12000", received_at=RECEIVED)


def test_a_class_gives_groups_and_tyres_where_spacing_gets_it_wrong() -> None:
    # A 2.0 m threshold splits the 2.8 m twin steer: 1-1-2.2, not in the JBI table. The class knows.
    unclassed = parse(with_values(), TRONTON)
    assert (unclassed.groups, unclassed.vehicle_class) == ([1, 1, 2], "4")
    classed = parse(with_values(classes={4: "1.1-2.2", "03": "1-2.2"}), TRONTON)
    assert classed.groups == [2, 2]
    assert [axle.tyres for axle in classed.axles] == [Tyres.SINGLE, Tyres.SINGLE, Tyres.DUAL, Tyres.DUAL]
    assert classed.quality is Quality.GOOD
    message = classed.to_message(site="km13", device="wim-1", gateway="gw-km13", seq=1)
    assert message.axle_configuration == "1.1-2.2"


def test_the_odol_verdict_reads_the_class_s_configuration_not_a_guess() -> None:
    loaded = rule({"id": "odol", "kind": "odol", "check_axles": False, "check_dimensions": False})
    assert isinstance(loaded, OdolRule)
    jbi, roads = default_jbi(), default_road_classes()
    heavy = Truck("000501", "04", 35.0, [6000, 6000, 11000, 11000], [2.8, 4.4, 1.31])  # 34 t; 1.1-2.2: 30 t
    guessed = judge(parse(with_values(), heavy).to_message(**ENVELOPE), loaded, "I", jbi, roads)
    classed_record = parse(with_values(classes={"4": "1.1-2.2"}), heavy)
    classed = judge(classed_record.to_message(**ENVELOPE), loaded, "I", jbi, roads)
    # Groups [1, 1, 2] from spacing, tyres assumed: judged as a 1-2-2.2 (JBI 34 t), so 4 t over passes.
    assert (guessed.verdict, guessed.axle_configuration, guessed.jbi_kg) == ("ok", "1-2-2.2", 34000)
    assert guessed.configuration_inferred is True
    assert (classed.verdict, classed.axle_configuration, classed.jbi_kg) == ("violation", "1.1-2.2", 30000)
    assert classed.configuration_inferred is None  # reported by the record, not assumed


ENVELOPE: dict[str, Any] = {"site": "km13", "device": "wim-1", "gateway": "gw-km13", "seq": 1}


def test_a_record_whose_axles_are_not_its_class_s_is_suspect() -> None:
    record = parse(with_values(classes={"4": "1-2.2"}), TRONTON)  # 4 axles measured, the class has 3
    assert (record.quality, record.reason) == (Quality.SUSPECT, "class_axle_count_mismatch")
    assert record.groups == [1, 1, 2]  # from spacings, as without the class
    assert all(axle.tyres is None for axle in record.axles)


def test_an_unmapped_class_keeps_groups_from_spacing() -> None:
    record = parse(with_values(classes={"9": "1-2-2.2"}), TRONTON)
    assert (record.groups, record.quality) == ([1, 1, 2], Quality.GOOD)


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ({"08": "1-2.2", 8: "1-2"}, r"class codes '08' and 8 are one class \('8'\)"),
        ({"8": "1-3"}, r"configuration '1-3' is not JBI notation"),
        ({"8": "1--2"}, r"configuration '1--2' is not JBI notation"),
        ({"8": {"configuration": "1-2", "tyres": "dual"}}, r"tyres: Extra inputs are not permitted"),
        ({"": "1-2"}, r"a class code cannot be empty"),
    ],
)
def test_bad_class_maps_are_config_errors(classes: dict[Any, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        with_values(classes=classes)


def test_a_class_map_needs_a_class_and_axles_in_the_format() -> None:
    document = copy.deepcopy(INTERLEAVED_DOC)
    document["format"]["fields"][2]["name"] = "_class"
    document["values"]["classes"] = {"4": "1.1-2.2"}
    with pytest.raises(ConfigError, match=r"values\.classes needs vehicle_class and per-axle axle_weight"):
        make_profile(document)


# The axle-group spacing threshold --------------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "groups"), [(2.0, [1, 1, 2]), (2.9, [2, 2]), (1.2, [1, 1, 1, 1])])
def test_the_group_threshold_is_the_profile_s(threshold: float, groups: list[int]) -> None:
    assert parse(with_values(group_spacing_max_m=threshold), TRONTON).groups == groups


# Text encoding -------------------------------------------------------------------------------------------

LATIN1_DOC: dict[str, Any] = {
    "id": "test-latin1",
    "protocol": "records",
    "manufacturer": "test",
    "model": "latin-1 text",
    "source": "wim",
    "encoding": "latin-1",
    "framing": {"kind": "lines"},
    "format": {"kind": "delimited", "separator": ";", "fields": ["record_id", "direction", "gvw"]},
    "values": {"directions": {"Süd": "south", "Nord": "north"}},
}


def test_a_latin1_record() -> None:
    record = RecordParser(make_profile(LATIN1_DOC)).parse(b"17;S\xfcd;12000", received_at=RECEIVED)
    assert (record.direction, record.gvw_kg) == ("south", 12000)


@pytest.mark.parametrize(
    ("encoding", "frame", "message"),
    [
        ("ascii", b"17;S\xfcd;12000", "record: byte 0xfc at position 4 is not ASCII"),
        ("utf-8", b"17;S\xfcd;12000", "record: byte 0xfc at position 4 is not utf-8"),
        ("latin-1", b"17;S\x00d;12000", r"record: control character '\x00' at position 4"),
        ("latin-1", b"17;S\x85d;12000", r"record: control character '\x85' at position 4"),
    ],
)
def test_text_that_is_not_text_is_malformed(encoding: str, frame: bytes, message: str) -> None:
    profile = make_profile(LATIN1_DOC, encoding=encoding)
    with pytest.raises(MalformedRecord) as caught:
        RecordParser(profile).parse(frame, received_at=RECEIVED)
    assert str(caught.value).startswith(message)


def test_an_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"encoding: Input should be 'ascii', 'latin-1', 'cp1252' or 'utf-8'"
    ):
        make_profile(LATIN1_DOC, encoding="latin1")


@pytest.mark.services
async def test_a_latin1_controller_over_tcp() -> None:
    lines = b"17;S\xfcd;12000\r\n18;Nord;9000\r\n"

    async def serve(_: int, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(lines)
        await writer.drain()

    async with tcp_device(serve) as port:
        for encoding, expected in (("latin-1", ["south", "north"]), ("ascii", ["north"])):
            stream = tcp_stream(make_profile(LATIN1_DOC, encoding=encoding), port)
            async with running(stream) as records:
                received = await take(records, len(expected))
            assert [record.direction for record in received] == expected
            assert stream.counters.malformed == (1 if encoding == "ascii" else 0)
