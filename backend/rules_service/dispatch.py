"""Delivers what the rules engine decided: store it, publish alert transitions (retained), notify.

Effects come from `RulesState` in commit order and leave it only once stored and published, so a storage
or broker outage delays them and a crash repeats them (at least once; stored points and retained topics
are idempotent, notification receivers can tell a repeat by `alert_id` + `seq`). Notifiers get their copy
through their own queues and never hold the dispatcher up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Final

import aiomqtt

from backend.config import BackendMqtt
from backend.rules_service.notifiers import Notifier
from backend.rules_service.state import Effects, RulesState
from backend.storage.model import Storage, StorageRejected, StorageUnavailable
from backend.storage.schema import alert_point
from pantau.aio import guarded
from pantau.contract import AlertTransition, Topics, encode
from pantau.mqtt import connected
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage

logger = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 0.5
BACKOFF_CAP_S: Final = 30.0


class AlertPublisher:
    """Publishes transitions, QoS 1, on each alert's own topic
    (`{prefix}/alerts/{site}/{rule}[/{device}[/{channel}]]`): retained while the alert is active; a
    resolution goes out unretained and the retained message is then cleared (an empty retained publish),
    so a late subscriber is handed exactly the active alerts.

    Alerts are rare (a storm raises a few a minute), so each batch uses a short connection of its own:
    no session to keep alive, nothing to reconnect, and a broker outage is just a failed batch to retry."""

    def __init__(self, mqtt: BackendMqtt, client_id: str) -> None:
        self.mqtt = mqtt
        self.client_id = client_id
        self.topics = Topics(mqtt.topic_prefix)

    async def publish(self, transitions: Sequence[AlertTransition]) -> None:
        if not transitions:
            return
        password = self.mqtt.password()
        # `connected`: the gateway's and ingest's way in, with a refused TLS handshake explained
        async with connected(
            aiomqtt.Client(
                self.mqtt.host,
                self.mqtt.port,
                identifier=self.client_id,
                username=self.mqtt.username,
                password=password.get_secret_value() if password else None,
                protocol=aiomqtt.ProtocolVersion.V5
                if self.mqtt.protocol == 5
                else aiomqtt.ProtocolVersion.V311,
                timeout=10,
                tls_context=self.mqtt.tls_context(),
            )
        ) as client:
            for transition in transitions:
                topic = self.topics.alert(
                    transition.site, transition.rule, transition.device, transition.channel
                )
                resolved = transition.state == "resolved"
                properties = self.mqtt.message_properties()
                await guarded(
                    client.publish(
                        topic, encode(transition), qos=1, retain=not resolved, properties=properties
                    )
                )
                if resolved:
                    await guarded(client.publish(topic, b"", qos=1, retain=True))


class AlertDispatcher:
    def __init__(
        self,
        state: RulesState,
        storage: Storage,
        publisher: AlertPublisher,
        notifiers: Sequence[Notifier] = (),
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.state = state
        self.clock = clock
        self._backoff = Backoff(base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S)
        self._outage = Outage("alert delivery", logger, clock)
        self.storage = storage
        self.publisher = publisher
        self.notifiers = list(notifiers)
        self.delivered_total = 0
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            pending = await asyncio.to_thread(self.state.pending)
            if not pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            for effects in pending:
                try:
                    await self._deliver(effects)
                except (StorageUnavailable, aiomqtt.MqttError, OSError) as exc:
                    self._outage.failed(f"{exc} (will retry)")
                    await self.clock.sleep(self._backoff.next_delay())
                    break
                self._outage.recovered()
                self._backoff.reset()
                await asyncio.to_thread(self.state.delivered, effects.id)
                self.delivered_total += len(effects.transitions)

    async def _deliver(self, effects: Effects) -> None:
        points = [*effects.points, *(alert_point(t) for t in effects.transitions)]
        if points:
            try:
                await self.storage.write(points)
            except StorageRejected as exc:  # a bug, not an outage: keep going, say what was lost
                logger.error("storage refused %d rules point(s): %s", len(exc.rejected) or len(points), exc)  # noqa: TRY400
        await self.publisher.publish(effects.transitions)
        for transition in effects.transitions:
            for notifier in self.notifiers:
                notifier.offer(transition)
