"""asyncio helpers every long-running loop of pantau needs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def raise_swallowed_cancellation() -> None:
    """Raise a cancellation that a library call swallowed on its way back.

    pymodbus and aiomqtt await replies, connections and PUBACKs with asyncio.wait_for. On Python 3.11, a
    wait_for whose result arrives together with a cancellation returns the result and drops the
    cancellation (CPython gh-86296, fixed in 3.12). A loop around such a call then never stops: a gateway
    asked to stop polled on for ever (about 1 cancel in 150 against a real pymodbus server). The task
    still counts the request it did not see (Task.cancelling), so call this after such a call, outside
    any `asyncio.timeout` block of your own (which takes back its own cancellation on exit), and never
    on a path that runs while a cancellation is being handled (a clean shutdown). Prefer `guarded`.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def cancellations_requested() -> int:
    """How many cancellations the current task has been asked for and not taken back (Task.cancelling):
    read it before a call, hand it to `raise_cancellation_requested_since` after."""
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def raise_cancellation_requested_since(requested: int) -> None:
    """Raise a cancellation asked for since `cancellations_requested()` read `requested`, which a library
    call swallowed (see `raise_swallowed_cancellation`).

    Blind to requests from before, which matters on Python 3.11: a TaskGroup whose child fails while it
    waits to exit cancels its parent task and never takes that back, so the parent counts one cancellation
    for good (the gateway publisher's, each time a connection drops mid-batch) and a plain check would stop
    it at the next call."""
    if cancellations_requested() > requested:
        raise asyncio.CancelledError


async def guarded(call: Awaitable[T]) -> T:
    """Await a pymodbus or aiomqtt call and re-raise a cancellation it swallowed (see above).

    The one guard, for both libraries (so it lives here, not in the MQTT adapter the drivers may not import):
    the Modbus TCP adapter (drivers/modbus/bus.py) and the MQTT clients wrap each library call that waits
    with asyncio.wait_for in it: aiomqtt's subscribe, unsubscribe and publish (its connect and disconnect:
    `pantau.mqtt.connected`; pantau.mqtt's own waits use asyncio.timeout, which drops nothing).
    Inside an `asyncio.timeout` block of the caller's this is right too: a swallowed cancellation that was
    the block's own expiry becomes its TimeoutError."""
    result = await call
    raise_swallowed_cancellation()
    return result
