"""`pantau.mqtt.connected` keeps a stop that arrives with the CONNACK or with the end of the session.

aiomqtt waits for both with asyncio.wait_for, which on Python 3.11 returns the result and drops a
cancellation of the same loop turn. Each test cancels its task from paho's callback, right after aiomqtt's
own handler has finished that wait: exactly that turn, every time (stop_timing.py), against a real
Mosquitto."""

from __future__ import annotations

import asyncio
from typing import Literal

import aiomqtt
import pytest

from pantau.mqtt import connected
from tests.harness.mosquitto import Mosquitto
from tests.pantau.mqtt.stop_timing import stop_in_wait

DEADLINE_S = 10.0


async def run_until_stopped(
    client: aiomqtt.Client, callback: Literal["on_connect", "on_disconnect"], *, stay: bool
) -> list[str]:
    """Run a connect-work-leave task that `callback` stops; what it got to do."""
    did: list[str] = []

    async def work() -> None:
        async with connected(client):
            did.append("connected")
            if stay:
                await asyncio.Event().wait()  # until stopped
        did.append("left")
        await asyncio.Event().wait()  # a reconnect loop's back-off: only a stop ends it

    task = asyncio.create_task(work())
    stop_in_wait(client, callback, lambda: task)
    done, _pending = await asyncio.wait({task}, timeout=DEADLINE_S)
    task.cancel()
    await asyncio.wait({task}, timeout=DEADLINE_S)
    assert done, f"the stop was lost (got to: {did})"
    with pytest.raises(asyncio.CancelledError):
        task.result()
    return did


async def test_a_stop_with_the_connack_ends_the_block_before_its_body(mosquitto: Mosquitto) -> None:
    client = aiomqtt.Client(mosquitto.host, mosquitto.port)
    assert await run_until_stopped(client, "on_connect", stay=True) == []


async def test_a_stop_with_the_end_of_the_session_is_kept_after_the_block(mosquitto: Mosquitto) -> None:
    client = aiomqtt.Client(mosquitto.host, mosquitto.port)
    assert await run_until_stopped(client, "on_disconnect", stay=False) == ["connected"]
