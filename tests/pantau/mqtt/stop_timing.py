"""Timing a stop into the one loop turn where Python 3.11's asyncio.wait_for drops it (CPython gh-86296).

aiomqtt waits for the CONNACK (`_connected`) and for the end of the session (`_disconnected`) with
asyncio.wait_for, and paho's callback (`on_connect`, `on_disconnect`) ends the wait through aiomqtt's
handler. `stop_in_wait` holds the callback back until the task is suspended in that very wait, then runs
aiomqtt's handler and cancels the task in the same turn: the wait's result and the cancellation arrive
together, every time, whatever the machine's load. (A test's own reach into aiomqtt's private parts, to
time the race it proves is handled.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiomqtt

POLL_S = 0.005

WAITS = {"on_connect": "_connected", "on_disconnect": "_disconnected"}


def stop_in_wait(
    client: aiomqtt.Client,
    callback: Literal["on_connect", "on_disconnect"],
    task: Callable[[], asyncio.Task[Any]],
) -> None:
    """Cancel `task()` in the turn where paho's `callback` ends aiomqtt's wait for it."""
    loop = asyncio.get_running_loop()
    inner = client._client
    aiomqtt_handler = getattr(inner, callback)
    aiomqtt_wait_for: Callable[[Awaitable[Any], float | None], Awaitable[Any]] = client._wait_for
    waiting: list[bool] = []

    async def wait_for(future: Awaitable[Any], timeout: float | None) -> Any:
        if future is getattr(client, WAITS[callback]):
            waiting.append(True)  # from here the task runs on, without a suspension, into wait_for's wait
        return await aiomqtt_wait_for(future, timeout)

    def when_waiting(*args: Any) -> None:
        if not waiting:
            loop.call_later(POLL_S, when_waiting, *args)
            return
        aiomqtt_handler(*args)  # the wait's result...
        task().cancel()  # ...and the stop, in one turn

    client._wait_for = wait_for  # type: ignore[method-assign]
    setattr(inner, callback, when_waiting)
