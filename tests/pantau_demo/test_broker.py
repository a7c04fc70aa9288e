"""The embedded amqtt broker with pantau's real clients: the backend's persistent, acknowledge-when-stored
subscriber and plain MQTT 3.1.1 clients. Each test pins one amqtt behaviour pantau_demo.broker handles."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from backend.config import BackendConfig
from backend.ingest.subscriber import Incoming, Subscriber, Subscription
from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.contract import GatewayStatus, Topics, decode
from pantau.site.config import MqttConfig
from pantau_demo.broker import EmbeddedBroker
from tests.harness.process import free_port

pytestmark = pytest.mark.services  # the embedded broker listens on loopback

DEADLINE_S = 10.0


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker("127.0.0.1", free_port()) as running:
        yield running


def client(broker: EmbeddedBroker, name: str, username: str | None = "tester") -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host, broker.port, identifier=name, username=username, protocol=aiomqtt.ProtocolVersion.V311
    )


async def publish(broker: EmbeddedBroker, topics: list[str], *, retain: bool = False) -> None:
    async with client(broker, "gw-test") as c:
        for topic in topics:
            await c.publish(topic, b"{}", qos=1, retain=retain)


class Backend:
    """The backend's ingest subscriber (persistent session, PUBACK after the batch is handled)."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        config = BackendConfig.model_validate(
            {"mqtt": {"port": broker.port, "protocol": 311, "username": "pantau-backend"}}
        )
        self.received: list[str] = []
        self.arrived = asyncio.Event()
        self.subscriber = Subscriber(Subscription.ingest(config), self._handle)

    async def _handle(self, batch: list[Incoming]) -> None:
        await asyncio.sleep(0.01)  # storing takes a moment: the PUBACK waits for it
        self.received.extend(m.topic for m in batch)
        self.arrived.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with asyncio.TaskGroup() as tasks:
            task = tasks.create_task(self.subscriber.run(), name="ingest")
            async with asyncio.timeout(DEADLINE_S):
                await self.subscriber.subscribed.wait()
            yield
            task.cancel()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(DEADLINE_S):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


def puback_timeouts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """amqtt's warnings that it gave up waiting for a PUBACK (after 5 s; it then forgets the message)."""
    return [r.getMessage() for r in caplog.records if "Timeout waiting for PUBACK" in r.getMessage()]


async def test_a_persistent_subscriber_gets_what_was_queued_while_it_was_away(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    # Plain amqtt waits for the queued messages' PUBACKs before it reads the SUBSCRIBE that comes first; the
    # subscriber acknowledges only once subscribed: both stall until amqtt gives up on the PUBACKs.
    backend = Backend(broker)
    async with backend.running():
        pass
    await publish(broker, [f"pantau/v1/s/d{i}/readings" for i in range(3)])
    async with backend.running():
        await backend.wait_for(3)
        await publish(broker, ["pantau/v1/s/live/readings"])
        await backend.wait_for(4)
    assert backend.received == [
        *(f"pantau/v1/s/d{i}/readings" for i in range(3)),
        "pantau/v1/s/live/readings",
    ]
    assert puback_timeouts(caplog) == []


async def test_a_subscriber_acknowledging_after_storing_gets_retained_messages(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    # Plain amqtt waits for retained messages' PUBACKs before the next SUBSCRIBE: the backend subscribes four
    # filters before it handles (and acknowledges) anything.
    await publish(broker, ["pantau/v1/s/status", "pantau/v1/s/d/status"], retain=True)
    backend = Backend(broker)
    async with backend.running():
        await backend.wait_for(2)
    assert sorted(backend.received) == ["pantau/v1/s/d/status", "pantau/v1/s/status"]
    assert puback_timeouts(caplog) == []


async def test_retained_messages_reach_only_clients_subscribed_to_them(broker: EmbeddedBroker) -> None:
    await publish(broker, ["pantau/v1/s/status"], retain=True)
    backend = Backend(broker)  # subscribed to pantau/v1/+/status, among others
    async with backend.running(), client(broker, "gw-other") as other:
        await other.subscribe("elsewhere/#", qos=1)
        await backend.wait_for(1)  # the retained status really went out, to its subscriber
        # A message `other` did subscribe to, published after: the first thing it gets, if nothing leaked.
        await publish(broker, ["elsewhere/sentinel"])
        async with asyncio.timeout(DEADLINE_S):
            message = await anext(aiter(other.messages))
        assert message.topic.value == "elsewhere/sentinel"


async def test_anonymous_clients_are_refused(broker: EmbeddedBroker) -> None:
    # An anonymous amqtt session keeps neither queued messages nor subscriptions: pantau clients log in.
    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, "nobody", username=None):
            pass


async def retained_status(broker: EmbeddedBroker, topic: str, state: str) -> GatewayStatus:
    """The retained gateway status once it reads `state`, as a client subscribing now sees it."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            async with client(broker, "watcher") as watcher:
                await watcher.subscribe(topic, qos=1)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        message = await anext(aiter(watcher.messages))
                        status = decode(bytes(message.payload))  # type: ignore[arg-type]  # aiomqtt: bytes here
                        assert isinstance(status, GatewayStatus)
                        if status.state == state:
                            return status


async def test_the_gateway_publisher_leaves_online_then_offline_retained(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    site, gateway = "ampal-mufakat", "gw-ampal-mufakat"
    config = MqttConfig(host=broker.host, port=broker.port, protocol=311, username=gateway)
    outbox = Outbox(tmp_path / "outbox.db", receipt_window=config.outbox_receipt_window)
    publisher = Publisher(config, outbox, Identity(site, gateway))
    topic = Topics().gateway_status(site)
    try:
        async with asyncio.TaskGroup() as tasks:
            task = tasks.create_task(publisher.run(), name="publish")
            online = await retained_status(broker, topic, "online")
            task.cancel()  # a clean stop: `offline` replaces the Last Will
        offline = await retained_status(broker, topic, "offline")
    finally:
        outbox.close()
    assert offline.gateway == online.gateway == gateway
    assert offline.reason == "shutdown"
