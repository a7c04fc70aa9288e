"""The gateway's Prometheus endpoint: the text exposition format (0.0.4), served by the event loop itself.

prometheus_client's server is a thread plus `http.server`, `wsgiref` and `urllib` (3.8 MB of resident
memory, about 8 % of a running gateway), for a page of a few dozen values read at scrape time. So the
gateway writes the format itself: `Family` and `render` below, checked against prometheus_client's own
parser in tests/gateway/test_prometheus.py. The backend keeps prometheus_client (it has histograms and a
web server already).

`MetricsServer` answers `GET /metrics` (and `/`) with the page, anything else with 404 or 405, and closes
each connection after one answer. A client gets `REQUEST_TIMEOUT_S` to send its request and at most
`MAX_REQUEST_BYTES` of it, so a stuck or hostile scraper cannot hold the loop's memory or a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

logger = logging.getLogger(__name__)

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_TIMEOUT_S: Final = 5.0
MAX_REQUEST_BYTES: Final = 8192


@dataclass
class Family:
    """One metric: its samples, one per label set. A counter's name gets `_total` in the page, as
    prometheus_client writes it (`pantau_outbox_dropped` -> `pantau_outbox_dropped_total`)."""

    name: str
    help: str
    type: Literal["counter", "gauge"]
    labels: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, values: Iterable[str], value: float) -> None:
        values = tuple(values)
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name}: {len(values)} label values for labels {self.labels}")
        self.samples.append((values, value))


def gauge(name: str, help_text: str, value: float | None = None, labels: tuple[str, ...] = ()) -> Family:
    family = Family(name, help_text, "gauge", labels)
    if value is not None:
        family.add((), value)
    return family


def counter(name: str, help_text: str, value: float | None = None, labels: tuple[str, ...] = ()) -> Family:
    family = Family(name, help_text, "counter", labels)
    if value is not None:
        family.add((), value)
    return family


def render(families: Iterable[Family]) -> bytes:
    """The families in the Prometheus text format."""
    lines: list[str] = []
    for family in families:
        name = f"{family.name}_total" if family.type == "counter" else family.name
        help_text = family.help.replace("\\", r"\\").replace("\n", r"\n")
        lines += (f"# HELP {name} {help_text}", f"# TYPE {name} {family.type}")
        for values, value in family.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(family.labels, values, strict=True))
            lines.append(f"{name}{{{labels}}} {_number(value)}" if labels else f"{name} {_number(value)}")
    return ("\n".join(lines) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _number(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class MetricsServer:
    """Serves `page()` on host:port from the running event loop (start/close)."""

    def __init__(self, page: Callable[[], Awaitable[bytes]]) -> None:
        self._page = page
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen; OSError when the address is taken or not ours."""
        self._server = await asyncio.start_server(self._answer, host, port, limit=MAX_REQUEST_BYTES)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:  # more than MAX_REQUEST_BYTES without the end of a request
                writer.write(_response(431, b"request header too large\n"))
                return
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return  # no complete request in time: nothing to answer
            method, _, rest = head.partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            if method not in (b"GET", b"HEAD"):
                writer.write(_response(405, b"only GET\n", extra="Allow: GET, HEAD\r\n"))
            elif path not in (b"/metrics", b"/"):
                writer.write(_response(404, b"the metrics are at /metrics\n"))
            else:
                body = await self._page()
                writer.write(_response(200, body, content_type=CONTENT_TYPE, head_only=method == b"HEAD"))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except Exception:  # a scrape must never take the gateway down
            logger.exception("metrics: answering a scrape failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


_REASONS: Final = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
}


def _response(
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    extra: str = "",
    head_only: bool = False,
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    )
    return head.encode() + (b"" if head_only else body)
