"""A large POST sent the way an attacker sends it: the headers first, then the body in 1 MiB chunks.

The answer is awaited before any byte of the body goes out, so a server that reads the body before it
decides never answers in time: "refused unread" is shown without racing the sender against the reader
(measuring how much of the body had gone out when the answer arrived did race: on a busy 2-core machine
one of six senders had pushed 32 MiB into a server that was discarding it by then)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

CHUNK: Final = b" " * 1_048_576
#: How long the server may take to answer from the headers alone.
ANSWER_TIMEOUT_S: Final = 15.0


async def send_head_then_body(url: str, path: str, headers: dict[str, str], length: int) -> str:
    """POST `length` bytes: the headers, the status line of the answer (which must come before any of
    the body is sent), then the body anyway, as an attacker would keep sending it. Returns the status line."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                status = (await reader.readline()).decode().strip()
        except TimeoutError:
            raise AssertionError(
                f"no answer to the headers of POST {path} within {ANSWER_TIMEOUT_S:.0f} s: "
                "the server waits for the body before it decides"
            ) from None
        sent = 0
        with contextlib.suppress(ConnectionError):  # the server may close once it has answered
            while sent < length:
                piece = CHUNK[: length - sent]
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
        return status
    finally:
        writer.close()
