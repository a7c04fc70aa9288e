"""Framers: frames survive any split of the byte stream; garbage and oversize frames never stop them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.serial_records.errors import RAW_EXCERPT_BYTES
from drivers.serial_records.framing import BadFrame, DelimiterFramer, Frame, Framer, StxEtxFramer


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def run(framer: Framer, chunks: list[bytes]) -> list[Frame | BadFrame]:
    return [item for chunk in chunks for item in framer.feed(chunk)]


def frames(items: list[Frame | BadFrame]) -> list[bytes]:
    return [item.payload for item in items if isinstance(item, Frame)]


def bad(items: list[Frame | BadFrame]) -> list[BadFrame]:
    return [item for item in items if isinstance(item, BadFrame)]


LINE_CASES = [
    # (name, stream, expected frames, expected number of bad frames)
    ("two lines", b"a,1\r\nb,2\r\n", [b"a,1", b"b,2"], 0),
    ("no final terminator yet", b"a,1\r\nb,2", [b"a,1"], 0),
    ("blank lines skipped", b"\r\n\r\na\r\n\r\n", [b"a"], 0),
    ("bare LF is not the delimiter", b"a\nb\r\n", [b"a\nb"], 0),
    ("oversize then resync", b"x" * 40 + b"\r\nok\r\n", [b"ok"], 1),
    ("oversize without terminator then resync", b"y" * 100 + b"\r\nok\r\n", [b"ok"], 1),
    ("exactly max length", b"z" * 16 + b"\r\n", [b"z" * 16], 0),
    ("garbage bytes inside a line pass through", b"\x00\xff1\r\n", [b"\x00\xff1"], 0),
]


@pytest.mark.parametrize(
    ("name", "stream", "expected", "bad_count"), LINE_CASES, ids=[c[0] for c in LINE_CASES]
)
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 1000])
def test_line_framing(
    name: str, stream: bytes, expected: list[bytes], bad_count: int, chunk_size: int
) -> None:
    items = run(DelimiterFramer(b"\r\n", max_length=16), list(chunks_of(stream, chunk_size)))
    assert frames(items) == expected
    assert len(bad(items)) == bad_count


STX, ETX = b"\x02", b"\x03"
STX_CASES = [
    ("two frames", STX + b" 1000G" + ETX + STX + b" 1020M" + ETX, [b" 1000G", b" 1020M"], 0, 0),
    ("garbage between frames is skipped", b"\r\nzz" + STX + b"a" + ETX + b"\r\n", [b"a"], 0, 6),
    ("lost end marker", STX + b"part" + STX + b"whole" + ETX, [b"whole"], 1, 0),
    ("empty frame kept", STX + ETX, [b""], 0, 0),
    ("oversize then resync", STX + b"q" * 30 + ETX + STX + b"ok" + ETX, [b"ok"], 1, None),
    ("oversize without end then resync", STX + b"q" * 30 + STX + b"ok" + ETX, [b"ok"], 1, None),
    ("end marker alone is garbage", ETX + b"abc" + STX + b"x" + ETX, [b"x"], 0, 4),
]


@pytest.mark.parametrize(
    ("stream", "expected", "bad_count", "skipped"), [pytest.param(*c[1:], id=c[0]) for c in STX_CASES]
)
@pytest.mark.parametrize("chunk_size", [1, 2, 5, 1000])
def test_stx_etx_framing(
    stream: bytes, expected: list[bytes], bad_count: int, skipped: int | None, chunk_size: int
) -> None:
    framer = StxEtxFramer(STX, ETX, max_length=16)
    items = run(framer, list(chunks_of(stream, chunk_size)))
    assert frames(items) == expected
    assert len(bad(items)) == bad_count
    if skipped is not None:
        assert framer.skipped_bytes == skipped


def test_multi_byte_markers_split_across_chunks() -> None:
    framer = StxEtxFramer(b"<<", b">>", max_length=64)
    items = run(framer, [b"noise<", b"<abc>", b"><", b"<def>>"])
    assert frames(items) == [b"abc", b"def"]


def test_bad_frames_carry_a_bounded_excerpt() -> None:
    framer = DelimiterFramer(b"\n", max_length=1000)
    (item,) = run(framer, [b"x" * 5000])
    assert isinstance(item, BadFrame)
    assert len(item.raw) == RAW_EXCERPT_BYTES
    assert "max_length 1000" in item.problem


def test_reset_drops_a_partial_frame() -> None:
    framer = DelimiterFramer(b"\r\n", max_length=100)
    assert frames(run(framer, [b"half a rec"])) == []
    assert framer.reset() == 10
    assert frames(run(framer, [b"ord\r\nnext\r\n"])) == [b"ord", b"next"]
    assert framer.skipped_bytes == 10


@given(
    records=st.lists(st.binary(min_size=1, max_size=20).filter(lambda b: b"\n" not in b), max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=10),
)
def test_any_split_gives_the_same_frames(records: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(record + b"\n" for record in records)
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]
    assert frames(run(DelimiterFramer(b"\n", max_length=64), chunks)) == records


@given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
def test_stx_framer_never_raises_and_frames_are_bounded(noise: bytes, chunk_size: int) -> None:
    framer = StxEtxFramer(STX, ETX, max_length=16)
    for item in run(framer, list(chunks_of(noise, chunk_size))):
        if isinstance(item, Frame):
            assert len(item.payload) <= 16
            assert STX not in item.payload
            assert ETX not in item.payload
