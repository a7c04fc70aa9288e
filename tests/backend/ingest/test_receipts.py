"""The backend's receipts against a real Mosquitto: once a batch is durable, each gateway is told which of its
sequence numbers were taken (stored, or dead-lettered with a readable sender), and a real gateway outbox
holding messages after their PUBACK lets them go on those receipts."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt

from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.contract import Receipt, SeqRange, Topics, decode, encode
from pantau.site.config import MqttConfig
from tests.harness.backend import GATEWAY, SITE, T0, Gateway, backend_config, eventually, readings, running
from tests.harness.mosquitto import Mosquitto


@contextlib.asynccontextmanager
async def holding_gateway(mosquitto: Mosquitto, prefix: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    """The real outbox and publisher, keeping messages until the backend's receipt (as shipped)."""
    config = MqttConfig(host=mosquitto.host, port=mosquitto.port, topic_prefix=prefix, receipt_grace="2s")
    outbox = Outbox(tmp_path / "gateway-outbox.db", receipt_window=config.outbox_receipt_window)
    publisher = Publisher(config, outbox, Identity(SITE, GATEWAY))
    task = asyncio.create_task(publisher.run(), name="gateway-publisher")
    try:
        yield Gateway(outbox, publisher, Topics(prefix))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        outbox.close()


@contextlib.asynccontextmanager
async def receipts_seen(mosquitto: Mosquitto, prefix: str) -> AsyncIterator[list[Receipt]]:
    """Every receipt published for SITE while the block runs."""
    seen: list[Receipt] = []
    topic = Topics(prefix).receipts(SITE)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"receipts-{prefix}") as client:
        await client.subscribe(topic, qos=1)

        async def collect() -> None:
            async for message in client.messages:
                received = decode(message.payload, topic=str(message.topic), topics=Topics(prefix))
                assert isinstance(received, Receipt)
                seen.append(received)

        task = asyncio.create_task(collect())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def sqlite(tmp_path: Path) -> dict[str, object]:
    """Storage in the test's folder (the default, var/pantau.sqlite3, would land in the checkout)."""
    return {"sqlite": {"path": str(tmp_path / "pantau.sqlite3")}}


def confirmed(seen: list[Receipt]) -> set[int]:
    return {seq for receipt in seen for r in receipt.seqs for seq in range(r.first, r.last + 1)}


async def test_the_backend_confirms_what_it_stored_and_the_gateway_lets_it_go(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    config = backend_config(
        mosquitto, mqtt_topic_root, tmp_path, worker_id="receipts-1", storage=sqlite(tmp_path)
    )
    async with (
        receipts_seen(mosquitto, mqtt_topic_root) as seen,
        running(config),
        holding_gateway(mosquitto, mqtt_topic_root, tmp_path) as gateway,
    ):
        topic = gateway.topics.readings(SITE, "wl-radar-1")
        queued = await asyncio.to_thread(
            gateway.outbox.append, [lambda seq: (topic, encode(readings(seq)), False)] * 50
        )
        gateway.publisher.notify()
        await eventually(
            lambda: {m.seq for m in queued} <= confirmed(seen), what="receipts for the 50 readings"
        )
        await eventually(
            lambda: gateway.outbox.state().awaiting_receipt == 0 and gateway.outbox.state().depth == 0,
            what="the gateway's outbox emptied by the receipts",
        )
        (will,) = gateway.outbox.wills(armed=True)  # the Last Will of the live connection is all it holds
        assert gateway.outbox.state().bytes == len(will.payload) + len(will.topic)
        assert gateway.publisher.stats.resent_total == 0  # nothing was lost, so nothing went twice
        allotted = set(range(gateway.outbox.state().next_seq))
    assert {(r.site, r.gateway, r.source) for r in seen} == {(SITE, GATEWAY, "receipts-1")}
    # The 50 readings and the gateway's `online` status.
    # The will's number is sent too (as `offline`) when the gateway stops, while receipts are still seen.
    assert allotted - {will.seq} <= confirmed(seen) <= allotted


async def test_a_dead_letter_with_a_readable_sender_is_confirmed_too(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    """Kept with its reason in the dead-letter store, it is durably taken: sending it again would only
    dead-letter it again. A payload whose sender cannot be read gets no receipt."""
    config = backend_config(
        mosquitto, mqtt_topic_root, tmp_path, worker_id="receipts-2", storage=sqlite(tmp_path)
    )
    topics = Topics(mqtt_topic_root)
    invalid = readings(7).model_dump(mode="json") | {"channels": {"Level": {"value": 1, "unit": "m"}}}
    async with (
        receipts_seen(mosquitto, mqtt_topic_root) as seen,
        running(config) as worker,
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"raw-{mqtt_topic_root}") as raw,
    ):
        topic = topics.readings(SITE, "wl-radar-1")
        await raw.publish(topic, json.dumps(invalid).encode(), qos=1)
        await raw.publish(topic, b"not json at all", qos=1)
        await raw.publish(topic, readings(8).model_dump_json().encode(), qos=1)
        await eventually(lambda: sum(worker.pipeline.stats.dead.values()) == 2, what="two dead letters")
        await eventually(lambda: confirmed(seen) == {7, 8}, what="receipts for seq 7 (dead letter) and 8")


async def test_receipts_off_sends_none(mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path) -> None:
    config = backend_config(
        mosquitto,
        mqtt_topic_root,
        tmp_path,
        worker_id="receipts-3",
        mqtt={"receipts": False},
        storage=sqlite(tmp_path),
    )
    async with (
        receipts_seen(mosquitto, mqtt_topic_root) as seen,
        running(config) as worker,
        holding_gateway(mosquitto, mqtt_topic_root, tmp_path) as gateway,
    ):
        await gateway.send([readings(seq) for seq in range(5)])
        await eventually(lambda: worker.pipeline.stats.accepted["readings"] == 5, what="5 readings stored")
        await eventually(lambda: worker.subscriber.stats.acked_total >= 6, what="all acknowledged")
        # A receipt goes out right after its batch's acknowledgement: one published after that, here by
        # hand, arrives after any the worker sent.
        sentinel = Receipt(
            site=SITE, gateway="gw-sentinel", source="test", ts=T0, seqs=[SeqRange(first=0, last=0)]
        )
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"s-{mqtt_topic_root}") as raw:
            await raw.publish(Topics(mqtt_topic_root).receipts(SITE), encode(sentinel), qos=1)
        await eventually(lambda: len(seen) >= 1, what="the sentinel receipt")
        assert seen == [sentinel]
        assert gateway.outbox.state().awaiting_receipt == 6  # kept: no backend confirms them
