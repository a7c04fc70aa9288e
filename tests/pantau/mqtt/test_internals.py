"""The contract between pantau's MQTT adapter and the aiomqtt/paho-mqtt internals it relies on.

pantau.mqtt.internals names every private part it uses; this runs its own check and then exactly those
parts against a real Mosquitto: messages received with manual acknowledgement stay unacknowledged (the
broker redelivers them to the returning session) until a batched acknowledgement through paho's outgoing
queue settles them, and a refused publish comes back with its PUBACK reason code. An upgrade of either
library that moves what this relies on fails here, with the installed versions in the message."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pantau.mqtt import Incoming, ManualAcks, PubackWaiter, problems, versions
from tests.harness.mosquitto import Mosquitto
from tests.harness.mosquitto_acl import PASSWORD, start_acl_broker

pytestmark = pytest.mark.services  # Mosquitto (the ACL broker is started here, not by a fixture)

DEADLINE_S = 10.0
PROTOCOLS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5}


async def test_every_private_part_relied_on_is_where_the_adapter_expects_it() -> None:
    found = await problems()
    assert not found, "pantau.mqtt.internals relies on parts that moved:\n" + "\n".join(found)


class Receiver:
    """A persistent session receiving through ManualAcks, as the backend's subscribers do."""

    def __init__(self, broker: Mosquitto, identifier: str, protocol: aiomqtt.ProtocolVersion) -> None:
        self.broker, self.identifier, self.protocol = broker, identifier, protocol
        self.received: list[Incoming] = []
        self.arrived = asyncio.Event()

    def _received(self, message: Incoming) -> None:
        self.received.append(message)
        self.arrived.set()

    @asynccontextmanager
    async def session(self, topic: str) -> AsyncIterator[tuple[aiomqtt.Client, ManualAcks]]:
        v5 = self.protocol == aiomqtt.ProtocolVersion.V5
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 300
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            identifier=self.identifier,
            protocol=self.protocol,
            clean_session=None if v5 else False,
            clean_start=False if v5 else 3,
            properties=properties,
        )
        self.received, self.arrived = [], asyncio.Event()
        acks = ManualAcks(client, received=self._received, lost=lambda: None)
        async with client:
            await client.subscribe(topic, qos=1)
            yield client, acks

    async def wait_for(self, count: int) -> list[Incoming]:
        async with asyncio.timeout(DEADLINE_S):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received


async def settle(client: aiomqtt.Client) -> None:
    """A round trip after the PUBACKs: Mosquitto handles a client's packets in order, so once the SUBACK
    is back, every PUBACK sent before it has been processed."""
    await client.subscribe(f"settle/{uuid.uuid4().hex}", qos=1)


@pytest.mark.parametrize("protocol", list(PROTOCOLS.values()), ids=list(PROTOCOLS))
async def test_manual_acks_hold_messages_until_a_batch_is_acknowledged(
    mosquitto: Mosquitto, mqtt_topic_root: str, protocol: aiomqtt.ProtocolVersion
) -> None:
    topic = f"{mqtt_topic_root}/readings"
    receiver = Receiver(mosquitto, f"acks-{uuid.uuid4().hex[:8]}", protocol)
    async with receiver.session(topic) as (client, _acks):
        await settle(client)  # subscribed: the broker queues for this session from here on
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, protocol=protocol) as sender:
        for n in range(5):
            await sender.publish(topic, str(n).encode(), qos=1)

    async with receiver.session(topic) as (client, _acks):
        first = await receiver.wait_for(5)
        await settle(client)  # none acknowledged: paho sent no PUBACK of its own
    assert [m.payload for m in first] == [b"0", b"1", b"2", b"3", b"4"]

    async with receiver.session(topic) as (client, acks):
        again = await receiver.wait_for(5)
        assert [m.payload for m in again] == [b"0", b"1", b"2", b"3", b"4"], "not redelivered"
        assert acks.ack_batch(again[:3]) == 3  # one write through paho's outgoing queue
        await settle(client)

    async with receiver.session(topic) as (client, acks):
        rest = await receiver.wait_for(2)
        assert acks.ack_batch(rest) == 2
        await settle(client)
    assert [m.payload for m in rest] == [b"3", b"4"], f"the batch's PUBACKs did not all count ({versions()})"

    async with receiver.session(topic) as (client, _acks):
        await settle(client)
        await asyncio.sleep(0.2)  # a redelivery would follow the CONNACK at once
    assert receiver.received == [], "acknowledged messages came back"


async def test_a_connection_lost_is_reported_and_acknowledges_nothing_after(
    mosquitto: Mosquitto, mqtt_topic_root: str
) -> None:
    lost: list[bool] = []
    client = aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"lost-{uuid.uuid4().hex[:8]}")
    acks = ManualAcks(client, received=lambda _m: None, lost=lambda: lost.append(True))
    async with client:
        await client.subscribe(f"{mqtt_topic_root}/x", qos=1)
    assert lost == [True], f"paho's on_disconnect no longer reaches the adapter ({versions()})"
    assert acks.lost
    assert acks.ack_batch([Incoming("t", b"", 1, 1, 0.0)]) == 0


@asynccontextmanager
async def acl_client(tmp_path: Path, prefix: str, queue: str) -> AsyncIterator[aiomqtt.Client]:
    """A v5 client of a broker whose ACL refuses it `{prefix}/s1/denied`; `queue`: its max_queued_messages
    (0 makes Mosquitto 2.0.11 close the connection right after a refusal, as tests/gateway/test_refused.py
    shows)."""
    acl = start_acl_broker(
        tmp_path, user="gw", prefix=prefix, site="s1", config=f"max_queued_messages {queue}"
    )
    try:
        await acl.refuse(f"{prefix}/s1/denied")
        async with aiomqtt.Client(
            acl.broker.host, acl.broker.port, username="gw", password=PASSWORD, protocol=PROTOCOLS["5"]
        ) as client:
            yield client
    finally:
        acl.broker.stop()


async def test_each_publish_gets_its_own_pubacks_reason_code(tmp_path: Path, mqtt_topic_root: str) -> None:
    allowed, denied = f"{mqtt_topic_root}/s1/ok", f"{mqtt_topic_root}/s1/denied"
    async with acl_client(tmp_path, mqtt_topic_root, "1000000") as client:
        acks = PubackWaiter(client)
        outcomes = await asyncio.gather(
            acks.publish(allowed, b"1", retain=False, timeout=DEADLINE_S),
            acks.publish(denied, b"2", retain=False, timeout=DEADLINE_S),
            acks.publish(allowed, b"3", retain=False, timeout=DEADLINE_S),
        )
        # aiomqtt's own publish still completes on the same connection: its handler is forwarded to.
        async with asyncio.timeout(DEADLINE_S):
            await client.publish(allowed, b"4", qos=1)
    accepted, refused, accepted_too = outcomes
    assert accepted is None and accepted_too is None, outcomes
    assert refused is not None and refused.value == 0x87, f"{refused!r} ({versions()})"


async def test_a_connection_closed_after_a_refusal_ends_the_waits_at_once(
    tmp_path: Path, mqtt_topic_root: str
) -> None:
    allowed, denied = f"{mqtt_topic_root}/s1/ok", f"{mqtt_topic_root}/s1/denied"
    with contextlib.suppress(aiomqtt.MqttError):  # leaving a lost connection: aiomqtt's concern, not ours
        async with acl_client(tmp_path, mqtt_topic_root, "0") as client:
            acks = PubackWaiter(client)
            async with asyncio.timeout(DEADLINE_S / 2):  # far below the PUBACK timeout: on_disconnect ends it
                outcomes = await asyncio.gather(
                    acks.publish(denied, b"1", retain=False, timeout=DEADLINE_S * 6),
                    acks.publish(allowed, b"2", retain=False, timeout=DEADLINE_S * 6),
                    return_exceptions=True,
                )
    refused, lost = outcomes
    assert not isinstance(refused, BaseException) and refused is not None and refused.value == 0x87, refused
    assert isinstance(lost, aiomqtt.MqttError) and "connection lost before the PUBACK" in str(lost), lost
