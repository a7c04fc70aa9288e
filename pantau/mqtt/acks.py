"""Manual acknowledgement: receive QoS 1 messages unacknowledged, PUBACK them in batches once stored.

aiomqtt acknowledges every message as it arrives; the backend needs the opposite (at-least-once: a message
is acknowledged only once it is durable). `ManualAcks` switches the paho client inside an aiomqtt client to
manual acknowledgement and takes its messages straight from paho's callback, so nothing goes through
aiomqtt's own queue (which would acknowledge). A batch's PUBACKs go out as one write, in arrival order (as
MQTT requires), on the connection that received the messages: after a reconnect the broker redelivers
whatever was not acknowledged.

Errors: `InternalsMoved` (pantau.mqtt.internals) when the installed aiomqtt has no paho client inside.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt

from pantau.mqtt.internals import hook, paho_client, queue_pubacks, read_in_batches
from pantau.resilience import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message received and not yet acknowledged; `mid` and `qos` are what its acknowledgement needs."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    #: When it arrived, on the receiver's clock.
    received_at: float


class ManualAcks:
    """One connection's unacknowledged messages: `received` gets each as it arrives, `lost` is called when
    the connection ends, and `ack_batch` acknowledges the ones the caller has made durable.

    Make it before the client connects: a persistent session delivers its queued messages right after
    CONNACK, and a message paho saw before this took over would be acknowledged without being stored."""

    def __init__(
        self,
        client: aiomqtt.Client,
        *,
        received: Callable[[Incoming], None],
        lost: Callable[[], None],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._paho = paho_client(client)
        self._paho.manual_ack_set(on=True)
        # A backlog drains in batches (one event loop turn per batch, not per message), and its PUBLISH
        # packets come straight to _on_publish, past paho's per-message handling.
        read_in_batches(self._paho, publish=self._on_publish)
        self._received = received
        self._lost = lost
        self._clock = clock
        #: The connection is gone: its message ids mean nothing any more, so nothing is acknowledged.
        self.lost = False
        # paho calls these on the event loop's thread: aiomqtt drives paho's socket from loop callbacks.
        hook(self._paho, "on_message", self._on_message, forward=False)
        hook(self._paho, "on_disconnect", self._on_disconnect, forward=True)

    def ack(self, message: Incoming) -> int:
        """Acknowledge one message (see `ack_batch`)."""
        return self.ack_batch([message])

    def ack_batch(self, batch: Sequence[Incoming]) -> int:
        """Acknowledge `batch` in its order (arrival order, as MQTT requires); returns how many messages it
        settled, 0 once the connection is gone (the broker redelivers them on the next one)."""
        if self.lost:
            return 0
        run: list[int] = []
        for message in batch:
            if message.qos == 1:
                run.append(message.mid)
            elif message.qos == 2:  # PUBCOMP after paho's own PUBREC/PUBREL exchange, in order
                queue_pubacks(self._paho, run)
                run = []
                self._paho.ack(message.mid, 2)
        queue_pubacks(self._paho, run)
        return len(batch)

    def _on_publish(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        self._received(Incoming(topic, payload, mid, qos, self._clock.time()))

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        arrived = self._clock.time()
        self._received(Incoming(message.topic, message.payload, message.mid, message.qos, arrived))

    def _on_disconnect(self, *_args: Any) -> None:
        self.lost = True
        self._lost()
