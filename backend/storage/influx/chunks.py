"""A chunked InfluxDB /query answer (`chunked=true`) put back together, or refused when it is cut short.

A chunked answer is a stream of JSON objects, one per line, each `{"results": [...]}`. A statement's
result comes in one or more chunks (all but its last flagged `"partial": true`), and a series longer than
a chunk comes in pieces, each flagged `"partial": true` until its last. Pieces are appended to their
series, so callers see the answer a plain query would give without its row limits.

Why chunked: influxd 1.6 flags any series over 10,000 rows partial in a plain answer even when it holds
every row, so a plain answer cannot tell a whole long series from a truncated one. A server that ignores
`chunked` answers with one object, read here as a stream of one chunk: a partial flag left at the end of
the stream (a row limit such as `max-row-limit` reached, a connection cut between chunks) is refused,
never returned as if whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.storage.model import StorageRejected, StorageUnavailable


class ChunkedResults:
    """Feed each chunk in stream order to `add`; `results()` gives the whole answer's `results`."""

    def __init__(self, statement: str) -> None:
        self.statement = statement
        self._results: dict[int, dict[str, Any]] = {}
        self._partial: dict[int, bool] = {}  # statement id -> more of its result is announced

    def add(self, chunk: Mapping[str, Any]) -> None:
        results = chunk.get("results", [])
        if not isinstance(results, list):
            raise StorageUnavailable(
                f"InfluxDB answered {self.statement!r} with a chunk without a results list"
            )
        for result in results:
            if not isinstance(result, dict):
                raise StorageUnavailable(
                    f"InfluxDB answered {self.statement!r} with a result that is not an object"
                )
            if "error" in result:
                raise StorageRejected(f"InfluxQL error for {self.statement!r}: {result['error']}")
            self._add_result(result)

    def results(self) -> list[dict[str, Any]]:
        """The assembled results in statement order; StorageRejected if any part was announced but never
        came (the answer was truncated)."""
        for statement_id, result in self._results.items():
            if self._partial[statement_id] or any(
                series.get("partial") for series in result.get("series", [])
            ):
                raise self._truncated(statement_id)
        return [self._results[statement_id] for statement_id in sorted(self._results)]

    def _add_result(self, result: dict[str, Any]) -> None:
        statement_id = result.get("statement_id", 0)
        if not isinstance(statement_id, int):
            raise StorageUnavailable(
                f"InfluxDB answered {self.statement!r} with statement_id {statement_id!r}"
            )
        assembled = self._results.get(statement_id)
        if assembled is None:
            assembled = self._results[statement_id] = {"statement_id": statement_id}
        elif not self._partial[statement_id]:
            raise StorageUnavailable(
                f"InfluxDB answered statement {statement_id} of {self.statement!r} again after its last chunk"
            )
        self._partial[statement_id] = bool(result.get("partial"))
        pieces = result.get("series", [])
        if not isinstance(pieces, list):
            raise StorageUnavailable(f"InfluxDB answered {self.statement!r} with a series that is not a list")
        for piece in pieces:
            series: list[dict[str, Any]] = assembled.setdefault("series", [])
            last = series[-1] if series else None
            if last is None or not last.get("partial"):
                series.append(_own_copy(piece))
                continue
            # The previous piece announced more rows of its series: this piece must be them.
            if _key(piece) != _key(last):
                raise self._truncated(statement_id)
            last["values"].extend(_own_copy(piece)["values"])
            last["partial"] = bool(piece.get("partial"))

    def _truncated(self, statement_id: int) -> StorageRejected:
        return StorageRejected(
            f"InfluxDB truncated the answer to statement {statement_id} of {self.statement!r} "
            "(a row limit such as max-row-limit, or the stream cut short): narrow the query"
        )


def _key(series: Mapping[str, Any]) -> tuple[Any, ...]:
    tags = series.get("tags") or {}
    return (series.get("name"), sorted(tags.items()), series.get("columns"))


def _own_copy(piece: Mapping[str, Any]) -> dict[str, Any]:
    """The piece as a series later pieces are appended to (its values list is the parsed chunk's own)."""
    values = piece.get("values", [])
    if not isinstance(values, list):
        raise StorageUnavailable("InfluxDB answered with series values that are not a list")
    return dict(piece) | {"values": values}
