"""Batched reads (pantau.mqtt.internals.read_in_batches) against a real Mosquitto: a backlog arrives
whole, in order and byte for byte (payloads larger than one read, empty ones, QoS 0, 1 and 2 mixed, on
MQTT 3.1.1 and 5), and a QoS 1 backlog in far fewer reads than messages. (A reader's buffer belongs to
one socket; pantau makes a new client per connection anyway, so there is no reconnect of one client.)"""

from __future__ import annotations

import asyncio
import random
import uuid

import aiomqtt
import paho.mqtt.client as paho
import pytest

from pantau.mqtt import Incoming, ManualAcks
from pantau.mqtt.internals import paho_client
from tests.harness.mosquitto import Mosquitto

pytestmark = pytest.mark.services  # Mosquitto

PROTOCOLS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5}
DEADLINE_S = 30.0


def backlog(count: int, prefix: str = "batched", qos: int | None = None) -> list[tuple[str, bytes, int]]:
    """Topics, payloads (empty to 300 KiB, more than one read) and QoS levels, fixed by a seed."""
    rng = random.Random(18)  # noqa: S311  # test data, not secrets
    sizes = [0, 1, 300 * 1024, 262_144, 262_145] + [
        rng.choice([10, 200, 5_000, 70_000]) for _ in range(count)
    ]
    return [
        (
            f"{prefix}/{index % 7}",
            rng.randbytes(size),
            qos if qos is not None else rng.choice([0, 1, 1, 1, 2]),
        )
        for index, size in enumerate(sizes[:count])
    ]


def publish(broker: Mosquitto, messages: list[tuple[str, bytes, int]]) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="batched-reads-pub")
    client.max_inflight_messages_set(100)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for info in [client.publish(topic, payload, qos=qos) for topic, payload, qos in messages]:
            info.wait_for_publish(DEADLINE_S)
    finally:
        client.loop_stop()
        client.disconnect()


class Counting:
    """Counts the event loop's calls into paho's reading (aiomqtt's reader callback calls loop_read), and
    the messages paho itself handled (its on_message) rather than the adapter's PUBLISH fast path."""

    def __init__(self, inner: paho.Client) -> None:
        self.calls = 0
        self.by_paho = 0
        read = inner.loop_read
        handler = inner.on_message

        def counted_message(*args: object) -> None:
            self.by_paho += 1
            handler(*args)  # type: ignore[misc, arg-type]

        inner.on_message = counted_message

        def counted(max_packets: int = 1) -> paho.MQTTErrorCode:
            self.calls += 1
            return read(max_packets)

        inner.loop_read = counted  # type: ignore[method-assign]


async def receive(
    broker: Mosquitto, protocol: aiomqtt.ProtocolVersion, count: int, qos: int | None = None
) -> tuple[list[Incoming], Counting]:
    """Subscribe, have `count` messages published, and take them through ManualAcks as ingest does."""
    received: list[Incoming] = []
    arrived = asyncio.Event()

    def on_message(message: Incoming) -> None:
        received.append(message)
        arrived.set()

    prefix = f"batched-{uuid.uuid4().hex}"  # the broker is shared by the session's tests
    client = aiomqtt.Client(broker.host, broker.port, identifier=prefix, protocol=protocol)
    acks = ManualAcks(client, received=on_message, lost=lambda: None)
    counting = Counting(paho_client(client))
    async with client:
        await client.subscribe(f"{prefix}/#", qos=2)
        messages = backlog(count, prefix, qos)
        await asyncio.to_thread(publish, broker, messages)
        async with asyncio.timeout(DEADLINE_S):
            while len(received) < count:
                arrived.clear()
                await arrived.wait()
        acks.ack_batch(received)
    return received, counting


@pytest.mark.parametrize("protocol", PROTOCOLS.values(), ids=PROTOCOLS.keys())
async def test_a_backlog_arrives_whole_and_in_order(
    mosquitto: Mosquitto, protocol: aiomqtt.ProtocolVersion
) -> None:
    count = 400
    received, _ = await receive(mosquitto, protocol, count)
    sent = [(topic.split("/", 1)[1], payload, qos) for topic, payload, qos in backlog(count)]
    got = [(m.topic.split("/", 1)[1], m.payload, m.qos) for m in received]
    assert sorted(got) == sorted(sent)  # each message once, byte for byte
    # MQTT orders the messages of one topic and QoS (the broker may interleave the others)
    for topic, qos in {(topic, qos) for topic, _, qos in sent}:
        assert [p for t, p, q in got if (t, q) == (topic, qos)] == [
            p for t, p, q in sent if (t, q) == (topic, qos)
        ]


async def test_a_qos_1_backlog_is_read_in_batches(mosquitto: Mosquitto) -> None:
    # paho alone reads one QoS 1 packet per readable event (it reads more only while QoS 2 exchanges are
    # open): a backlog then costs as many event loop turns as messages.
    count = 400
    received, counting = await receive(mosquitto, aiomqtt.ProtocolVersion.V311, count, qos=1)
    assert len(received) == count
    assert counting.calls < count / 2


@pytest.mark.parametrize("protocol", PROTOCOLS.values(), ids=PROTOCOLS.keys())
async def test_most_publish_packets_skip_pahos_per_message_handling(
    mosquitto: Mosquitto, protocol: aiomqtt.ProtocolVersion
) -> None:
    # paho handles the first packet of each read (the adapter takes whole packets between two of paho's),
    # and every QoS 2 one; the rest come straight from the read buffer (pantau.mqtt.internals).
    count = 400
    received, counting = await receive(mosquitto, protocol, count, qos=1)
    assert len(received) == count
    assert counting.by_paho < count / 4, f"{counting.by_paho} of {count} went through paho's on_message"


async def test_a_backlog_larger_than_one_turn_still_skips_pahos_handling(mosquitto: Mosquitto) -> None:
    # 5,000 messages queued for a persistent session arrive right after CONNACK, more than one turn's
    # bound (2,000 packets): what is already read past it is taken the same way (it went through paho,
    # which read on from the socket, so nearly all of a long drain did: 48,003 of 50,000 in the bench).
    count = 5000
    prefix = f"backlog-{uuid.uuid4().hex}"
    first = aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=prefix, clean_session=False)
    async with first:
        await first.subscribe(f"{prefix}/#", qos=1)
    await asyncio.to_thread(publish, mosquitto, [(f"{prefix}/t", b"x" * 60, 1)] * count)
    received: list[Incoming] = []
    client = aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=prefix, clean_session=False)
    acks = ManualAcks(client, received=received.append, lost=lambda: None)
    counting = Counting(paho_client(client))
    async with client:
        async with asyncio.timeout(DEADLINE_S):
            while len(received) < count:
                acks.ack_batch(received[-500:])
                await asyncio.sleep(0.01)
        acks.ack_batch(received)
    assert counting.by_paho < count / 10, f"{counting.by_paho} of {count} went through paho's on_message"
