"""Batched writes: split into requests, retry, and find exactly the points the server refuses.

- A batch is cut into requests of at most `max_points_per_request` lines and `max_body_bytes` (before
  compression); requests go out one after the other, in order.
- Transient failures are retried by the client until the write's deadline (`retry_for`).
- 413 (body too large for the server): the request is halved and each half sent, down to single points.
- 400/422 (unparsable line, field type conflict, beyond retention; InfluxDB 1.x may have stored the rest,
  a "partial write"): the request is bisected down to the refused points. Re-sending the good ones is
  harmless, writes being idempotent. The refused points come back to the caller for the dead-letter store.
- 401/403/404 (credentials, missing database or DBRP mapping) are the deployment's fault, not the points':
  StorageUnavailable, so the caller keeps the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from backend.storage.influx.client import InfluxHttp, error_text
from backend.storage.model import Point, StorageUnavailable

#: Answers that are about the points in the body: bisect to find which.
_POINT_ERRORS: Final = frozenset({400, 413, 422})


@dataclass(slots=True)  # not frozen: one per point, and a frozen dataclass costs 3x as much to create
class Line:
    point: Point
    data: bytes


@dataclass(frozen=True, slots=True)
class Rejection:
    point: Point
    reason: str


def plan_requests(lines: Sequence[Line], max_points: int, max_bytes: int) -> list[list[Line]]:
    """Consecutive groups within both limits; a single line larger than `max_bytes` goes alone."""
    requests: list[list[Line]] = []
    current: list[Line] = []
    size = 0
    for line in lines:
        length = len(line.data) + 1
        if current and (len(current) >= max_points or size + length > max_bytes):
            requests.append(current)
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        requests.append(current)
    return requests


class Writer:
    def __init__(self, http: InfluxHttp) -> None:
        self.http = http

    async def write(self, lines: Sequence[Line], retention_policy: str, deadline: float) -> list[Rejection]:
        """Write `lines` into `retention_policy`; returns the points the server refused, with reasons."""
        config = self.http.config
        rejected: list[Rejection] = []
        for request in plan_requests(lines, config.max_points_per_request, config.max_body_bytes):
            await self._send(request, retention_policy, deadline, rejected)
        return rejected

    async def _send(
        self, lines: list[Line], retention_policy: str, deadline: float, rejected: list[Rejection]
    ) -> None:
        body = b"\n".join(line.data for line in lines)
        response = await self.http.post_write(body, retention_policy, deadline)
        status = response.status_code
        if response.is_success:
            return
        if status in _POINT_ERRORS:
            if len(lines) == 1:
                rejected.append(Rejection(lines[0].point, f"HTTP {status}: {error_text(response)}"))
                return
            half = len(lines) // 2
            await self._send(lines[:half], retention_policy, deadline, rejected)
            await self._send(lines[half:], retention_policy, deadline, rejected)
            return
        raise StorageUnavailable(
            f"InfluxDB refused a write to {_target(self.http)} with HTTP {status}: {error_text(response)}"
        )


def _target(http: InfluxHttp) -> str:
    return f"{http.config.url} database {http.config.database!r}"
