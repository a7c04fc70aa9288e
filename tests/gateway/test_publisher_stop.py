"""A gateway asked to stop stops, even when the stop arrives together with the broker's CONNACK.

aiomqtt waits for the CONNACK with asyncio.wait_for, which on Python 3.11 returns the result and drops a
cancellation that arrives in the same loop turn (CPython gh-86296). The publisher then went on publishing
for ever, its stop lost. The test cancels the publisher in exactly that turn (stop_timing.py), so it fails
every time without the guard on connect (pantau.mqtt.connected)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import pytest

from gateway.outbox import Outbox, OutboxMessage
from gateway.publisher import Identity, Publisher
from pantau.site.config import MqttConfig
from tests.harness.mosquitto import Mosquitto
from tests.pantau.mqtt.stop_timing import stop_in_wait

DEADLINE_S = 10.0


class StoppedAtConnack(Publisher):
    """The real publisher, cancelled in the loop turn that handles the CONNACK."""

    task: asyncio.Task[None]

    def _connect(self, will: OutboxMessage) -> aiomqtt.Client:
        client = super()._connect(will)
        stop_in_wait(client, "on_connect", lambda: self.task)
        return client


async def test_a_stop_arriving_with_the_connack_stops_the_publisher(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    config = MqttConfig(host=mosquitto.host, port=mosquitto.port, topic_prefix=mqtt_topic_root)
    outbox = Outbox(tmp_path / "outbox.db", receipt_window=config.outbox_receipt_window)
    publisher = StoppedAtConnack(config, outbox, Identity("s", "gw-stop"))
    publisher.task = asyncio.create_task(publisher.run(), name="publish")
    try:
        done, _pending = await asyncio.wait({publisher.task}, timeout=DEADLINE_S)
        assert done, "the publisher lost its stop and publishes on"
        with pytest.raises(asyncio.CancelledError):
            publisher.task.result()
    finally:
        publisher.task.cancel()
        await asyncio.wait({publisher.task}, timeout=DEADLINE_S)
        outbox.close()
