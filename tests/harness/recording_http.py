"""FAKE at the HTTP seam: a tiny HTTP/1.1 server on 127.0.0.1 that records requests and answers from a script.

Used only where no real part can run here or be made to misbehave on demand: InfluxDB answering 503, 429
with Retry-After, 413 or slowly; webhook and Telegram receivers; the Grafana HTTP API. Everything a real
influxd can show (type conflicts, being down) is tested against influxd.
One request per connection (`Connection: close`), which is all the writer tests need.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def lines(self) -> list[str]:
        """The body as line protocol lines, gunzipped when it says so."""
        data = gzip.decompress(self.body) if self.headers.get("content-encoding") == "gzip" else self.body
        return data.decode().split("\n") if data else []


@dataclass
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


Script = Callable[[Request], Reply | Awaitable[Reply]]


class RecordingServer:
    """Start with `async with RecordingServer(script) as fake:`; `fake.url`, `fake.requests`."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> RecordingServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            request = await self._read(reader)
            self.requests.append(request)
            reply = self.script(request)
            if not isinstance(reply, Reply):
                reply = await reply
            await asyncio.sleep(reply.delay)
            head = [
                f"HTTP/1.1 {reply.status} Scripted",
                f"Content-Length: {len(reply.body)}",
                "Connection: close",
            ]
            head += [f"{name}: {value}" for name, value in reply.headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up (timeout test)
        finally:
            writer.close()
            self._handlers.discard(task)

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Request:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            if line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        url = urlsplit(target)
        params = {key: values[0] for key, values in parse_qs(url.query).items()}
        return Request(method, url.path, params, headers, body, asyncio.get_running_loop().time())
