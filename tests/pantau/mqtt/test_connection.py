"""`pantau.mqtt.connected` keeps a stop that arrives with the CONNACK or with the end of the session, and
leaves no error of a lost connection for asyncio to log.

aiomqtt waits for both with asyncio.wait_for, which on Python 3.11 returns the result and drops a
cancellation of the same loop turn. Each test cancels its task from paho's callback, right after aiomqtt's
own handler has finished that wait: exactly that turn, every time (stop_timing.py), against a real
Mosquitto."""

from __future__ import annotations

import asyncio
import gc
import uuid
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


async def test_a_connection_lost_leaves_no_unretrieved_error_to_log(
    mosquitto: Mosquitto, mqtt_topic_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    """aiomqtt keeps the error a dropped connection ended with and, when the block ends with the caller's
    own error, never looks at it: asyncio then logged "Future exception was never retrieved" at ERROR, with
    a traceback, each time a gateway or backend lost its broker."""
    client = aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"taken-over-{uuid.uuid4().hex[:8]}")
    with pytest.raises(aiomqtt.MqttError):
        await lose_the_connection(client, mosquitto, f"{mqtt_topic_root}/x")
    del client
    gc.collect()  # asyncio logs an unretrieved error when its future is collected
    logged = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not [m for m in logged if "never retrieved" in m], logged


async def lose_the_connection(client: aiomqtt.Client, broker: Mosquitto, topic: str) -> None:
    """Connect, then have the broker drop the connection (as an outage would) while the block works on."""
    async with (
        connected(client),
        asyncio.timeout(DEADLINE_S),
        # A second client with the same id: the broker drops the first before it answers the second.
        aiomqtt.Client(broker.host, broker.port, identifier=client.identifier),
    ):
        await client.subscribe(topic, qos=1)  # on a dropped connection: MqttError
