"""Every refused frame reaches the stream's `on_reject` with a reason code, the failing field and its bytes
(the pure pipeline, `RecordStream.feed`: no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drivers.serial_records import RecordStream, Reject, printable
from pantau.profiles.records.profile import RecordProfile
from pantau.site.connections import TcpEndpoint
from tests.drivers.serial_records.test_parser import CSV_BODY, csv_frame

AT = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)


def feed(profile: RecordProfile, data: bytes) -> tuple[RecordStream, list[Reject]]:
    seen: list[Reject] = []
    endpoint = TcpEndpoint(kind="tcp", host="127.0.0.1", port=4001)
    stream = RecordStream(profile, endpoint, name="wim-1", on_reject=seen.append)
    stream.feed(data, AT)
    return stream, seen


def test_each_reject_says_why_and_which_field(wim_profile: RecordProfile) -> None:
    good = csv_frame(wim_profile, CSV_BODY) + b"\r\n"
    bad_gvw = csv_frame(wim_profile, CSV_BODY.replace(",31640,", ",3164O,")) + b"\r\n"
    bad_sum = good.replace(b",59\r\n", b",58\r\n")
    short = csv_frame(wim_profile, "412,2026-11-28 14:04:17.25,1") + b"\r\n"
    noise = b"\x00\xff\\garbage\r\n"
    stream, seen = feed(wim_profile, good + bad_gvw + bad_sum + short + noise)
    assert stream.counters.records == 1
    assert [(r.reason, r.field) for r in seen] == [
        ("bad_field", "gvw"),
        ("checksum", "checksum"),
        ("bad_record", "record"),
        ("checksum", "checksum"),  # line noise fails the checksum before anything else is read
    ]
    assert "'3164O'" in seen[0].problem
    assert seen[0].frame_bytes == len(bad_gvw) - 2  # the frame without its CR LF
    assert seen[0].excerpt.startswith("412,2026-11-28 14:04:17.25,1,1,42.5,6B,3164O,")
    assert seen[3].excerpt == "\\x00\\xff\\\\garbage"
    assert stream.counters.rejects_by_reason == {"bad_field": 1, "checksum": 2, "bad_record": 1}
    assert stream.counters.malformed == 4


def test_an_oversize_line_is_a_framing_reject_with_a_bounded_excerpt(wim_profile: RecordProfile) -> None:
    _stream, seen = feed(wim_profile, b"9" * 5000 + b"\r\n")
    assert [r.reason for r in seen] == ["framing"]
    assert len(seen[0].raw) == 200
    assert seen[0].field is None


def test_a_weight_stream_frame_that_is_no_sample(r320_profile: RecordProfile) -> None:
    _stream, seen = feed(r320_profile, b"\x02+0031640X\x03")
    assert [r.reason for r in seen] == ["bad_sample"]


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("axle_weight[2]", ("bad_field", "axle_weight")),
        ("gvw", ("bad_field", "gvw")),
        (None, ("bad_field", None)),
    ],
)
def test_axle_indexes_do_not_make_new_kinds(field: str | None, kind: tuple[str, str | None]) -> None:
    assert Reject(AT, "bad_field", field, "x", b"", 0).kind == kind


def test_printable_keeps_every_byte_recoverable() -> None:
    raw = bytes(range(256))
    text = printable(raw)
    assert text.isascii() and text.isprintable()
    assert text.encode().decode("unicode_escape").encode("latin-1") == raw
