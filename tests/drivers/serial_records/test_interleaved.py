"""Fixed-width records whose axle block interleaves each axle's weight and spacing, and literal columns
(a record type that must be `W`): the layout issue 21 found reading plausible wrong vehicles."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.serial_records import MalformedRecord, RecordParser, VehicleRecord, encode_record
from pantau.config import ConfigError
from pantau.contract import Axle, Quality
from pantau.profiles.records.profile import DelimitedLayout, RecordProfile
from tests.drivers.serial_records.conftest import FIXED_DOC, make_profile
from tests.drivers.serial_records.fleet import INTERLEAVED_DOC, Truck, fleet
from tests.drivers.serial_records.test_encoder import fixed_records, through_the_wire
from tests.drivers.serial_records.test_stream import (
    DEADLINE,
    eventually,
    running,
    serial_stream,
    take,
    tcp_device,
    tcp_stream,
    write_in_pieces,
)
from tests.harness.serial_pty import SocatPtyPair

RECEIVED = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
TRUCK = Truck("000412", "03", 42.5, [6120, 12860, 12660], [3.45, 1.31])


def with_axles(**changes: Any) -> dict[str, Any]:
    """The interleaved test profile with its `axles` block changed."""
    document = copy.deepcopy(INTERLEAVED_DOC)
    document["format"]["axles"] |= changes
    return document


def parse(profile: RecordProfile, line: bytes) -> Any:
    return RecordParser(profile).parse(line.removesuffix(b"\r\n"), received_at=RECEIVED)


def test_the_printed_line_is_the_common_interleaved_record() -> None:
    head, axles = b"W" + b"000412" + b"03" + b"0425" + b"031640" + b"03", b"0612034512860131" + b"1266    "
    assert TRUCK.line == head + axles + b"\r\n"


def test_each_axle_gets_its_own_weight_and_spacing() -> None:
    record = parse(make_profile(INTERLEAVED_DOC), TRUCK.line)
    assert record.axles == [
        Axle(load_kg=6120, spacing_m=3.45),
        Axle(load_kg=12860, spacing_m=1.31),
        Axle(load_kg=12660),
    ]
    assert (record.gvw_kg, record.quality, record.groups) == (31640, Quality.GOOD, [1, 2])


def test_read_run_after_run_the_same_record_is_flagged_not_published_as_good() -> None:
    # The mistake issue 21 reproduced: `order: runs` reads weight, spacing, weight as the three loads
    # (345 cm as 3,450 kg) and the next spacing and weight as the spacings (12.66 m): all plausible.
    record = parse(make_profile(with_axles(order="runs")), TRUCK.line)
    assert [(axle.load_kg, axle.spacing_m) for axle in record.axles] == [
        (6120, 1.31),
        (3450, 12.66),
        (12860, None),
    ]
    assert (record.quality, record.reason) == (Quality.SUSPECT, "gvw_axle_sum_mismatch")


def test_without_a_last_spacing_column_the_last_axle_is_weight_only() -> None:
    profile = make_profile(with_axles(spacings="n-1"))
    record = parse(profile, TRUCK.line.replace(b"    \r\n", b"\r\n"))
    assert [(a.load_kg, a.spacing_m) for a in record.axles] == [(6120, 3.45), (12860, 1.31), (12660, None)]


def test_a_record_of_another_type_is_rejected_naming_the_column() -> None:
    other = Truck("000413", "03", 42.5, [6120, 12860, 12660], [3.45, 1.31], record_type="X")
    with pytest.raises(MalformedRecord, match=r"^_record_type: 'X' must be 'W'$") as caught:
        parse(make_profile(INTERLEAVED_DOC), other.line)
    assert caught.value.field == "_record_type"


def test_the_record_type_is_checked_before_the_record_s_shape() -> None:
    # A status record of another length is named by its type, not by whichever column it breaks.
    with pytest.raises(MalformedRecord, match=r"^_record_type: 'S' must be 'W'$"):
        parse(make_profile(INTERLEAVED_DOC), b"S0004130K")


def test_a_literal_field_in_a_delimited_record() -> None:
    document = copy.deepcopy(INTERLEAVED_DOC)
    document["format"] = {
        "kind": "delimited",
        "separator": ";",
        "fields": [{"name": "_type", "equals": "VEH"}, "record_id", "gvw"],
    }
    document["values"] = {}
    profile = make_profile(document)
    assert isinstance(profile.format, DelimitedLayout)
    assert parse(profile, b"VEH;17;12000").gvw_kg == 12000
    for line in (b"STS;17;12000", b"STS;17"):  # the type is named even when the field count is wrong
        with pytest.raises(MalformedRecord, match=r"^_type: 'STS' must be 'VEH'$"):
            parse(profile, line)


@pytest.mark.parametrize(("spacings"), ["n", "n-1"])
def test_the_encoder_writes_what_the_parser_reads(spacings: str) -> None:
    profile = make_profile(with_axles(spacings=spacings))
    record = parse(profile, TRUCK.line if spacings == "n" else TRUCK.line.replace(b"    \r\n", b"\r\n"))
    line = encode_record(record, profile)
    assert line.startswith(b"W000412 3 425 31640 3 612 3451286 1311266")  # numbers are space-padded
    assert parse(profile, line) == record


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"width": 1, "equals": "WIM"}, "equals 'WIM' is longer than the field's width 1"),
        ({"width": 1, "equals": " W"}, "values are compared stripped"),
    ],
)
def test_a_literal_that_can_never_match_is_a_config_error(change: dict[str, Any], message: str) -> None:
    document = copy.deepcopy(INTERLEAVED_DOC)
    document["format"]["fields"][0] |= change
    with pytest.raises(ConfigError, match=message):
        make_profile(document)


def test_a_real_looking_record_set_reads_true() -> None:
    trucks = fleet(100, other_types=1)
    parser = RecordParser(make_profile(INTERLEAVED_DOC))
    vehicles, rejects = [], []
    for truck in trucks:
        try:
            vehicles.append((truck, parser.parse(truck.line[:-2], received_at=RECEIVED)))
        except MalformedRecord as exc:
            rejects.append((truck, exc.field))
    assert [(t.record_type, field) for t, field in rejects] == [("X", "_record_type")] * 4
    for truck, record in vehicles:
        assert [axle.load_kg for axle in record.axles] == truck.loads_kg
        assert [axle.spacing_m for axle in record.axles[:-1]] == truck.spacings_m
        assert record.quality is Quality.GOOD


# Over real links: a serial pty pair and a TCP serial server ------------------------------------------


async def test_a_record_set_over_a_serial_line(pty_pair: SocatPtyPair) -> None:
    trucks = fleet(100, other_types=1)
    stream = serial_stream(make_profile(INTERLEAVED_DOC), pty_pair.host_end)
    async with running(stream) as records:
        async with asyncio.timeout(DEADLINE):
            await stream.wait_connected()
        with serial.Serial(str(pty_pair.device_end), baudrate=9600) as device:
            write_in_pieces(device, b"".join(truck.line for truck in trucks), 64)
            received = await take(records, 96)
            await eventually(stream, lambda c: c.malformed == 4)
    measured = [truck for truck in trucks if truck.record_type == "W"]
    assert [record.record_id for record in received] == [truck.record_id for truck in measured]
    for truck, record in zip(measured, received, strict=True):
        assert [axle.load_kg for axle in record.axles] == truck.loads_kg
        assert [axle.spacing_m for axle in record.axles[:-1]] == truck.spacings_m
        assert (record.gvw_kg, record.quality) == (truck.gvw_kg, Quality.GOOD)
    assert stream.counters.last_malformed is not None
    assert stream.counters.last_malformed.problem == "_record_type: 'X' must be 'W'"


@pytest.mark.services
async def test_a_layout_reading_the_wrong_columns_is_flagged_on_nearly_every_record() -> None:
    # Issue 21: read run after run, this record set gave 100 `good` vehicles (4 of them status records)
    # with wrong loads and spacings. Now the status records are rejected and GVW against the axle sum
    # flags all but two, whose misread loads happen to add up: the profile's examples are what catch
    # such a layout before it reaches a site (test_examples.py).
    trucks = fleet(100, other_types=1)
    profile = make_profile(with_axles(order="runs"))

    async def serve(_: int, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"".join(truck.line for truck in trucks))
        await writer.drain()

    async with tcp_device(serve) as port:
        stream = tcp_stream(profile, port)
        async with running(stream) as records:
            await eventually(stream, lambda c: c.records + c.malformed == len(trucks))
            received = [records.get_nowait() for _ in range(records.qsize())]
    assert stream.counters.malformed == 4
    assert Counter((record.quality, record.reason) for record in received) == {
        (Quality.SUSPECT, "gvw_axle_sum_mismatch"): 94,
        (Quality.GOOD, None): 2,
    }


@settings(max_examples=100)
@given(record=fixed_records(), spacings=st.sampled_from(["n", "n-1"]))
def test_per_axle_round_trip(record: VehicleRecord, spacings: str) -> None:
    # The test-fixed layout (weight, tyres, spacing per axle) printed axle after axle instead of in runs.
    document = copy.deepcopy(FIXED_DOC)
    document["format"]["axles"] |= {"order": "per_axle", "spacings": spacings}
    profile = make_profile(document)
    assert through_the_wire(encode_record(record, profile), profile) == record


@given(tail=st.binary(max_size=120))
def test_random_bytes_after_the_record_type_only_raise_malformed_record(tail: bytes) -> None:
    document = copy.deepcopy(INTERLEAVED_DOC)
    document["encoding"] = "latin-1"
    document["values"]["classes"] = {"3": "1-2.2", "4": "1.1-2.2"}
    parser = RecordParser(make_profile(document))
    with contextlib.suppress(MalformedRecord):
        parser.parse(b"W" + tail, received_at=RECEIVED)
