"""The ingest subscription: QoS 1, persistent session, acknowledged only once the spool has the message.

aiomqtt acknowledges every message as soon as it arrives; we need the opposite, so the MQTT adapter
(pantau.mqtt.ManualAcks) receives without acknowledging into our own batch buffer. A PUBACK goes out only
after the batch is committed to the spool, on the connection that received the message: after a reconnect
the broker redelivers whatever was not acknowledged, and idempotent storage makes the duplicate harmless.

A handler may return messages to publish once its batch is acknowledged (the ingest pipeline's receipts
to the gateways): sent QoS 1 on the same connection, without waiting for their PUBACKs, so the next batch is
not held up by a round trip. One lost with the connection costs a resend from the gateway, never data.

MQTT v5 gives two more things: `Receive Maximum` bounds how many unacknowledged messages the broker sends
us (and so our memory), and a shared subscription (`$share/{group}/...`) lets several workers split the
stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.config import BackendConfig, BackendMqtt
from pantau.aio import guarded
from pantau.contract import Topics
from pantau.mqtt import Incoming, ManualAcks, connected
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage

__all__ = ["BatchHandler", "Incoming", "Subscriber", "SubscriberStats", "Subscription"]

logger = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 0.5
#: A reply's PUBACK slower than this is given up (its connection is gone).
REPLY_TIMEOUT_S: Final = 30.0


@dataclass(slots=True)
class SubscriberStats:
    connected: bool = False
    received_total: int = 0
    acked_total: int = 0
    connects_total: int = 0
    connect_failures_total: int = 0
    down_since: float | None = field(default_factory=time.monotonic)


#: Handles one batch durably; the subscriber acknowledges the batch when it returns, then publishes the
#: (topic, payload) replies it returned, if any.
BatchHandler = Callable[[list[Incoming]], Awaitable[Sequence[tuple[str, bytes]] | None]]
#: Replies published but not yet acknowledged by the broker, at most; past it the next batch waits.
MAX_REPLIES_IN_FLIGHT: Final = 1000


class _Connection:
    """One broker connection: the adapter's callbacks feed a buffer the batch loop drains."""

    def __init__(self, client: aiomqtt.Client, clock: Clock, properties: Properties | None = None) -> None:
        self.client = client
        #: What every pantau message carries on MQTT v5 (content type, contract version), replies too.
        self.properties = properties
        self.replies: set[asyncio.Task[None]] = set()
        self.buffer: list[Incoming] = []
        self.wake = asyncio.Event()
        self.acks = ManualAcks(client, received=self._on_message, lost=self.wake.set, clock=clock)

    @property
    def lost(self) -> bool:
        return self.acks.lost

    def _on_message(self, message: Incoming) -> None:
        self.buffer.append(message)
        self.wake.set()

    async def next_batch(self, size: int, linger: float) -> list[Incoming]:
        """Wait for a first message, then up to `linger` seconds for the batch to fill."""
        while not self.buffer:
            self._check()
            self.wake.clear()
            await self.wake.wait()
        # The linger is I/O timing, measured on the event loop's clock that asyncio.timeout runs on.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + linger
        while len(self.buffer) < size and not self.lost:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self.wake.clear()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
                async with asyncio.timeout(remaining):
                    await self.wake.wait()
            except TimeoutError:
                break
        batch, self.buffer = self.buffer[:size], self.buffer[size:]
        return batch

    def ack(self, batch: list[Incoming]) -> int:
        """PUBACK the batch in arrival order; nothing once this connection is gone."""
        return self.acks.ack_batch(batch)

    async def reply(self, replies: Sequence[tuple[str, bytes]]) -> None:
        """Publish `replies` (QoS 1) without waiting for their PUBACKs (MAX_REPLIES_IN_FLIGHT at most)."""
        for topic, payload in replies:
            while len(self.replies) >= MAX_REPLIES_IN_FLIGHT:
                await asyncio.wait(self.replies, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(self._publish(topic, payload))
            self.replies.add(task)
            task.add_done_callback(self.replies.discard)

    async def _publish(self, topic: str, payload: bytes) -> None:
        try:
            await self.client.publish(
                topic, payload, qos=1, properties=self.properties, timeout=REPLY_TIMEOUT_S
            )
        except aiomqtt.MqttError as exc:  # the gateway sends again what it has no receipt for
            logger.debug("reply to %s not sent: %s", topic, exc)

    def _check(self) -> None:
        if self.lost:
            raise aiomqtt.MqttError("connection lost")


@dataclass(frozen=True, slots=True)
class Subscription:
    """Who subscribes and how: the ingest workers share one group; the rules engine reads the whole stream
    under its own client id (its state needs every message of a series)."""

    mqtt: BackendMqtt
    client_id: str
    shared_group: str | None
    batch_messages: int
    batch_linger: float

    @classmethod
    def ingest(cls, config: BackendConfig) -> Subscription:
        spool = config.spool
        return cls(
            config.mqtt,
            config.client_id,
            config.mqtt.shared_group,
            spool.batch_messages,
            spool.batch_linger.total_seconds(),
        )


class Subscriber:
    """Keeps one subscription alive and feeds `handle` with batches, acknowledging each after it."""

    def __init__(
        self, subscription: Subscription, handle: BatchHandler, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.subscription = subscription
        self.clock = clock
        self._backoff = Backoff(base=BACKOFF_BASE_S, cap=subscription.mqtt.reconnect_cap.total_seconds())
        self._outage = Outage(f"broker {subscription.mqtt.host}:{subscription.mqtt.port}", logger, clock)
        self.mqtt = subscription.mqtt
        self.topics = Topics(self.mqtt.topic_prefix)
        self.handle = handle
        self.stats = SubscriberStats()
        self.subscribed = asyncio.Event()

    def filters(self) -> list[str]:
        group = self.subscription.shared_group
        wanted = self.topics.all_gateway_traffic()
        return [Topics.shared(group, f) for f in wanted] if group else wanted

    async def run(self) -> None:
        while True:
            try:
                # Take over acknowledgement before connecting: a persistent session delivers queued
                # messages right after CONNACK, and any acknowledged on arrival would not be stored first.
                client = self._client()
                connection = _Connection(client, self.clock, self.mqtt.message_properties())
                async with connected(client):
                    await self._on_connected(client)
                    self._backoff.reset()
                    await self._consume(connection)
            except aiomqtt.MqttError as exc:
                self._on_failure(exc)
                await self.clock.sleep(self._backoff.next_delay())

    async def _on_connected(self, client: aiomqtt.Client) -> None:
        for topic_filter in self.filters():
            await guarded(client.subscribe(topic_filter, qos=1))
        self.stats.connected = True
        self.stats.connects_total += 1
        if self._outage.recovered() is None:
            logger.info("subscribed at %s:%d: %s", self.mqtt.host, self.mqtt.port, self.filters())
        self.stats.down_since = None
        self.subscribed.set()

    def _on_failure(self, exc: Exception) -> None:
        self.subscribed.clear()
        self.stats.connect_failures_total += 1
        self._outage.failed(f"connection lost: {exc}")
        self.stats.down_since = self._outage.since
        self.stats.connected = False

    async def _consume(self, connection: _Connection) -> None:
        size, linger = self.subscription.batch_messages, self.subscription.batch_linger
        while True:
            batch = await connection.next_batch(size, linger)
            self.stats.received_total += len(batch)
            replies = await self.handle(batch)
            self.stats.acked_total += connection.ack(batch)
            if replies:
                await connection.reply(replies)

    def _client(self) -> aiomqtt.Client:
        c = self.mqtt
        password = c.password()
        v5 = c.protocol == 5
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = int(c.session_expiry.total_seconds())
            properties.ReceiveMaximum = c.receive_maximum
        return aiomqtt.Client(
            c.host,
            c.port,
            identifier=self.subscription.client_id,
            username=c.username,
            password=password.get_secret_value() if password else None,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if v5 else False,
            clean_start=False if v5 else 3,  # paho's MQTT_CLEAN_START_FIRST_ONLY; ignored for 3.1.1
            keepalive=int(c.keepalive.total_seconds()),
            timeout=10,
            properties=properties,
            tls_context=c.tls_context(),
        )
