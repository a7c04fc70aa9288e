"""A large POST sent the way an attacker sends it: headers, then the body in 1 MiB chunks, while the answer
is read; how much of the body had gone out when the answer came shows whether the server read it first."""

from __future__ import annotations

import asyncio
import contextlib

CHUNK = b" " * 1_048_576


async def send_head_then_body(url: str, path: str, headers: dict[str, str], length: int) -> tuple[str, int]:
    """POST `length` bytes in 1 MiB chunks while reading the answer: its status line and how many bytes of
    the body had been sent when it arrived."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0

    async def body() -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError):  # the server may close once it has answered
            while sent < length:
                piece = CHUNK[: length - sent]
                writer.write(piece)
                await writer.drain()
                sent += len(piece)

    sender = asyncio.create_task(body())
    try:
        async with asyncio.timeout(60):
            status = (await reader.readline()).decode().strip()
        return status, sent
    finally:
        sender.cancel()
        writer.close()
