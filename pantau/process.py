"""Long-running pantau processes: run until SIGTERM/Ctrl-C, and the HOST:PORT options they share."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable

import click


async def run_until_signalled(main: Awaitable[None]) -> None:
    """Await `main`; SIGTERM or SIGINT cancels it, so its `finally` blocks say goodbye cleanly."""
    task = asyncio.current_task()
    assert task is not None  # noqa: S101 - always inside asyncio.run
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await main


def parse_address(text: str, option: str) -> tuple[str, int] | None:
    """`HOST:PORT` -> (host, port); `off` -> None."""
    if text == "off":
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter("expected HOST:PORT or 'off'", param_hint=option)
    return host, int(port)
