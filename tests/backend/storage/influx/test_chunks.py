"""Putting a chunked /query answer back together (chunks.py) and splitting its stream into JSON lines
(client.json_lines): the shapes influxd's real streams do not show on demand (test_large_answers.py reads
those)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from backend.storage.influx.chunks import ChunkedResults
from backend.storage.influx.client import json_lines
from backend.storage.model import StorageRejected, StorageUnavailable


def piece(device: str, *times: int, partial: bool = False) -> dict[str, Any]:
    values = [[t, t / 2] for t in times]
    series = {"name": "reading", "tags": {"device": device}, "columns": ["time", "value"], "values": values}
    return series | ({"partial": True} if partial else {})


def chunk(statement_id: int, *series: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {"statement_id": statement_id, "series": list(series)}
    return {"results": [result | ({"partial": True} if partial else {})]}


def assembled(chunks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = ChunkedResults("SELECT ...")
    for each in chunks:
        answer.add(each)
    return answer.results()


def test_pieces_of_a_series_are_joined_in_order_and_statements_kept_apart() -> None:
    results = assembled(
        [
            chunk(0, piece("wl-1", 1), partial=False),
            chunk(1, piece("wl-1", 1, 2, partial=True), partial=True),
            chunk(1, piece("wl-1", 3), partial=True),
            chunk(1, piece("wl-2", 4)),
        ]
    )
    assert [result["statement_id"] for result in results] == [0, 1]
    assert [[t for t, _ in s["values"]] for s in results[1]["series"]] == [[1, 2, 3], [4]]
    assert not any(s.get("partial") for s in results[1]["series"])


def test_a_plain_answer_is_one_chunk() -> None:
    plain = {"results": [{"statement_id": 0, "series": [piece("wl-1", 1, 2)]}, {"statement_id": 1}]}
    assert assembled([plain]) == plain["results"]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([chunk(0, piece("wl-1", 1, partial=True))], id="series-left-partial"),
        pytest.param([chunk(0, piece("wl-1", 1), partial=True)], id="result-left-partial"),
        pytest.param(
            [chunk(0, piece("wl-1", 1, partial=True), partial=True), chunk(0, piece("wl-2", 2))],
            id="another-series-instead-of-the-rest",
        ),
    ],
)
def test_a_truncated_answer_is_refused(chunks: list[dict[str, Any]]) -> None:
    with pytest.raises(StorageRejected, match=r"truncated the answer to statement 0 of 'SELECT \.\.\.'"):
        assembled(chunks)


def test_an_error_inside_the_stream_is_the_statements_error() -> None:
    with pytest.raises(StorageRejected, match="database not found: x"):
        assembled([{"results": [{"statement_id": 0, "error": "database not found: x"}]}])


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([chunk(0, piece("wl-1", 1)), chunk(0, piece("wl-2", 2))], id="answered-again"),
        pytest.param([{"results": {"statement_id": 0}}], id="results-not-a-list"),
        pytest.param([{"results": [[]]}], id="result-not-an-object"),
        pytest.param([{"results": [{"statement_id": "0"}]}], id="statement-id-not-a-number"),
        pytest.param([{"results": [{"statement_id": 0, "series": {}}]}], id="series-not-a-list"),
        pytest.param([chunk(0, piece("wl-1") | {"values": {}})], id="values-not-a-list"),
    ],
)
def test_a_malformed_answer_is_a_storage_fault_not_a_crash(chunks: list[dict[str, Any]]) -> None:
    with pytest.raises(StorageUnavailable):
        assembled(chunks)


async def reads(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def lines_of(*parts: bytes) -> list[bytes]:
    return [line async for line in json_lines(reads(*parts))]


async def test_json_lines_are_split_on_newline_bytes_only() -> None:
    # U+001C and U+0085 are line breaks to str.splitlines, but JSON keeps them raw inside strings.
    first = json.dumps({"s": "a\x1cb\x85c"}, ensure_ascii=False).encode()
    second = b'{"results":[]}'
    stream = first + b"\n\n" + second  # a blank line between, no newline after the last
    assert await lines_of(stream) == [first, second]
    one_byte_reads = [stream[i : i + 1] for i in range(len(stream))]
    assert await lines_of(*one_byte_reads) == [first, second]
    assert json.loads(first)["s"] == "a\x1cb\x85c"
