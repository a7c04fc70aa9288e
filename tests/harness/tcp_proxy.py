"""A TCP proxy that breaks the link on command: a 4G modem between a gateway and its broker, in a thread.

`pass` forwards both ways. The faults, applied to the connections open at that moment and to every new one
until `heal()`:

- `drop`: connections are reset (RST, as when the modem re-registers and the carrier's NAT forgets them)
  and new ones are refused until healed.
- `stall`: nothing is forwarded either way, yet nothing is closed (a dead radio link: only the client's own
  keepalive can tell); new connections are accepted and hang. Healing closes the stalled ones.
- `half_close`: the broker's side is shut for writing toward the client (the client reads EOF) while the
  client's side stays open toward the broker, as a middlebox timing out one direction does; new connections
  get the same.

`refuse()` / `accept()` stop and resume listening without touching open connections: a test stopping the
broker behind the proxy refuses first, so a client sees "connection refused" as it would without a proxy
(a proxy that accepts and then resets makes aiomqtt wait out its whole connect timeout).

It runs its own event loop in a thread, so a test blocking its loop (starting a process) cannot stall it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from tests.harness.process import free_port

Mode = Literal["pass", "drop", "stall", "half_close"]


@dataclass
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.mode: Mode = "pass"
        self.connections_total = 0
        self._links: list[_Link] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._healed = asyncio.Event()
        self._refusing = False

    # Control, from any thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def cut(self, mode: Mode) -> None:
        """Break the link in `mode` now, for the open connections and every new one."""
        self._call(self._set(mode))

    def heal(self) -> None:
        self._call(self._set("pass"))

    def refuse(self) -> None:
        """Stop listening: new connections are refused (open ones go on), whatever the mode."""
        self._refusing = True
        self._call(self._update_listening())

    def accept(self) -> None:
        """Listen again (unless the link is cut in `drop` mode, which refuses by itself)."""
        self._refusing = False
        self._call(self._update_listening())

    def _call(self, coroutine: object) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        future.result(timeout=10)

    # In the proxy's loop -----------------------------------------------------------------------------

    async def _listen(self) -> None:
        await self._update_listening()
        if self.mode == "pass":
            self._healed.set()

    async def _update_listening(self) -> None:
        listen = not self._refusing and self.mode != "drop"
        if listen and self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
        elif not listen and self._server is not None:
            self._server.close()
            self._server = None

    async def _set(self, mode: Mode) -> None:
        previous, self.mode = self.mode, mode
        if mode == "pass":
            if previous == "stall":
                for link in list(self._links):  # a stalled connection never recovers by itself
                    self._close(link)
            await self._update_listening()
            self._healed.set()
            return
        self._healed.clear()
        await self._update_listening()
        for link in list(self._links):
            self._break(link, mode)

    def _break(self, link: _Link, mode: Mode) -> None:
        if mode == "drop":
            self._close(link, reset=True)
        elif mode == "half_close" and link.client.can_write_eof():
            with contextlib.suppress(OSError):
                link.client.write_eof()
        # stall: the pumps see the mode and stop forwarding

    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(client)  # the broker itself is down: the client sees it as it would without a proxy
            return
        link = _Link(client, upstream)
        self._links.append(link)
        link.tasks = [
            asyncio.create_task(self._pump(client_reader, upstream, link)),
            asyncio.create_task(self._pump(upstream_reader, client, link)),
        ]
        if self.mode == "half_close":
            self._break(link, "half_close")

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link) -> None:
        try:
            while data := await reader.read(65536):
                while self.mode == "stall":
                    await self._healed.wait()
                if link not in self._links:
                    return
                if self.mode == "half_close" and writer is link.client:
                    continue  # that direction is shut: the broker's bytes go nowhere
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._close(link)

    def _close(self, link: _Link, *, reset: bool = False) -> None:
        if link in self._links:
            self._links.remove(link)
        for writer in (link.client, link.upstream):
            if reset:
                _reset(writer)
            else:
                writer.close()

    async def _close_all(self) -> None:
        self._refusing = True
        await self._update_listening()
        for link in list(self._links):
            self._close(link, reset=True)
            for task in link.tasks:
                task.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0), as a NAT or modem that forgot the connection does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
