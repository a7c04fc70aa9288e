"""After any gateway start or restart, a subscriber that connects late is handed, retained, the newest
status of every device: also of devices whose statuses were all queued before the broker was reached (the
backlog), and never an older one than the gateway already sent. Real publisher, outbox and Mosquitto."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from gateway.outbox import Builder, Outbox
from gateway.publisher import Identity
from pantau.contract import DeviceStatus, Reading, Readings, Topics, decode, encode
from pantau.site.config import MqttConfig
from tests.gateway.conftest import publishing
from tests.harness.mosquitto import Mosquitto
from tests.harness.retained import retained_under

SITE: Final = "soekarno-hatta-km13"
GATEWAY: Final = "gw-sh-km13"
T0: Final = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def _status(topics: Topics, device: str, state: str, minute: int) -> Builder:
    def build(seq: int) -> tuple[str, bytes, bool]:
        message = DeviceStatus(
            site=SITE, gateway=GATEWAY, seq=seq, ts=T0 + timedelta(minutes=minute), device=device,
            state=state, since=T0 + timedelta(minutes=minute),  # type: ignore[arg-type]
        )  # fmt: skip
        return topics.device_status(SITE, device), encode(message), True

    return build


def _readings(topics: Topics, minute: int) -> Builder:
    def build(seq: int) -> tuple[str, bytes, bool]:
        message = Readings(
            site=SITE, gateway=GATEWAY, seq=seq, ts=T0 + timedelta(minutes=minute), device="wim-1",
            channels={"temperature": Reading(value=30.0, unit="°C")},
        )  # fmt: skip
        return topics.readings(SITE, "wim-1"), encode(message), False

    return build


async def _drained(outbox: Outbox, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while outbox.state().depth > 0:
            await asyncio.sleep(0.05)


async def _device_states(broker: Mosquitto, prefix: str) -> dict[str, tuple[str, int]]:
    """Device -> (state, seq) of the retained device statuses a late subscriber receives."""
    found = await retained_under(broker.host, broker.port, prefix)
    statuses = [decode(payload, topic=topic, topics=Topics(prefix)) for topic, payload in found.items()]
    return {m.device: (m.state, m.seq) for m in statuses if isinstance(m, DeviceStatus)}


async def test_statuses_queued_before_the_broker_was_reached_are_retained(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    topics = Topics(mqtt_topic_root)
    config = MqttConfig(host=mosquitto.host, port=mosquitto.port, topic_prefix=mqtt_topic_root)
    outbox = Outbox(tmp_path / "outbox.db", receipt_window=config.outbox_receipt_window)
    # A gateway start: the first poll's statuses are in the outbox before the first connection (backlog).
    queued = outbox.append([
        _status(topics, "wim-1", "ok", 0),
        _status(topics, "weighbridge-1", "failing", 0),
        _readings(topics, 1),
        _status(topics, "weighbridge-1", "ok", 2),
    ])  # fmt: skip
    async with publishing(config, outbox, Identity(SITE, GATEWAY)):
        await _drained(outbox)
        states = await _device_states(mosquitto, mqtt_topic_root)
    assert states == {"wim-1": ("ok", queued[0].seq), "weighbridge-1": ("ok", queued[3].seq)}

    # A restart with new statuses queued while it was down: the newest of each is what a subscriber gets.
    later = outbox.append([_status(topics, "wim-1", "failing", 10), _status(topics, "wim-1", "degraded", 11)])
    async with publishing(config, outbox, Identity(SITE, GATEWAY)):
        await _drained(outbox)
        states = await _device_states(mosquitto, mqtt_topic_root)
    assert states == {"wim-1": ("degraded", later[1].seq), "weighbridge-1": ("ok", queued[3].seq)}
    outbox.close()


async def test_a_replayed_status_never_replaces_a_newer_one_sent_live(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    topics = Topics(mqtt_topic_root)
    # One backlog message a second: the first batch goes at once, the old status waits in the next one
    # while the live stream sends the newer status; the gateway then stops and starts again.
    config = MqttConfig(
        host=mosquitto.host, port=mosquitto.port, topic_prefix=mqtt_topic_root, replay_rate=1.0
    )
    outbox = Outbox(tmp_path / "outbox.db", receipt_window=config.outbox_receipt_window)
    outbox.append([_readings(topics, minute) for minute in range(200)])
    old = outbox.append([_status(topics, "wim-1", "failing", 300)])[0]
    async with publishing(config, outbox, Identity(SITE, GATEWAY)) as publisher:
        async with asyncio.timeout(20):
            while publisher.stats.published_total < 200:
                await asyncio.sleep(0.05)
        new = outbox.append([_status(topics, "wim-1", "ok", 301)])[0]
        publisher.notify()
        async with asyncio.timeout(20):
            while any(m.seq == new.seq for m in outbox.pending(500)):  # acknowledged: sent live
                await asyncio.sleep(0.05)
        assert any(m.seq == old.seq for m in outbox.pending(500))  # still queued behind the live one
    async with publishing(config, outbox, Identity(SITE, GATEWAY)):
        await _drained(outbox, timeout=30)
        states = await _device_states(mosquitto, mqtt_topic_root)
    assert states == {"wim-1": ("ok", new.seq)}
    outbox.close()
