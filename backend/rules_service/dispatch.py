"""Delivers what the rules engine decided: store it, publish alert transitions (retained), notify.

Effects come from `RulesState` in commit order and leave it only once stored and published, so a storage
or broker outage delays them and a crash repeats them (at least once; stored points and retained topics
are idempotent, notification receivers can tell a repeat by `alert_id` + `seq`). Notifiers get their copy
through their own queues and never hold the dispatcher up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final

import aiomqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from backend.config import BackendMqtt
from backend.rules_service.notifiers import Notifier
from backend.rules_service.retained import ActiveAlerts, RetainedPlan, plan
from backend.rules_service.state import Effects, RulesState
from backend.storage.model import Storage, StorageRejected, StorageUnavailable
from backend.storage.schema import alert_point
from pantau.aio import guarded
from pantau.contract import AlertTransition, Topics, encode
from pantau.mqtt import PubackWaiter, connected
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage

logger = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 0.5
BACKOFF_CAP_S: Final = 30.0
#: Retained messages arrive as one burst after the subscription is granted: this much silence ends it,
#: and the whole read is bounded (thousands of alerts take milliseconds on any broker link).
RETAINED_QUIET_S: Final = 0.5
RETAINED_READ_MAX_S: Final = 30.0
#: How long a published alert may take to come back on the check's own subscription.
ECHO_WAIT_S: Final = 5.0
#: Retained fixes in one window of PUBACKs, and how long one window may take.
FIX_BATCH: Final = 200
FIX_TIMEOUT_S: Final = 30.0
#: SUBACK return codes from here on are refusals (MQTT 3.1.1: 0x80; MQTT 5: reason codes >= 0x80).
FIRST_FAILURE_CODE: Final = 0x80


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

    def _client(self) -> aiomqtt.Client:
        password = self.mqtt.password()
        return aiomqtt.Client(
            self.mqtt.host,
            self.mqtt.port,
            identifier=self.client_id,
            username=self.mqtt.username,
            password=password.get_secret_value() if password else None,
            protocol=aiomqtt.ProtocolVersion.V5 if self.mqtt.protocol == 5 else aiomqtt.ProtocolVersion.V311,
            timeout=10,
            tls_context=self.mqtt.tls_context(),
        )

    async def publish(self, transitions: Sequence[AlertTransition]) -> None:
        if not transitions:
            return
        # `connected`: the gateway's and ingest's way in, with a refused TLS handshake explained
        async with connected(self._client()) as client:
            await self._publish(client, transitions)

    async def _publish(self, client: aiomqtt.Client, transitions: Sequence[AlertTransition]) -> None:
        for transition in transitions:
            topic = self._topic(transition)
            resolved = transition.state == "resolved"
            properties = self.mqtt.message_properties()
            await guarded(
                client.publish(topic, encode(transition), qos=1, retain=not resolved, properties=properties)
            )
            if resolved:
                await guarded(client.publish(topic, b"", qos=1, retain=True))

    async def reconcile(self, active: Callable[[], Awaitable[ActiveAlerts]], source: str) -> RetainedPlan:
        """Make the broker retain exactly the `active` alerts (backend/rules_service/retained.py): read what
        it retains under the alerts prefix, clear what is no longer active, publish again what is missing.
        `active` is asked only once the retained messages are in, so an alert raised meanwhile counts."""
        async with connected(self._client()) as client:
            granted = await guarded(client.subscribe(self.topics.alerts_filter(), qos=0))
            if any(_refused(code) for code in granted):
                raise self._unreadable(f"it refuses the subscription ({', '.join(map(str, granted))})")
            messages = aiter(client.messages)
            found = await _retained_burst(messages)
            todo = plan(found, await active(), source, self.topics)
            acks = PubackWaiter(client)
            await self._settle(acks, [(topic, b"", True) for topic in todo.clear], None)
            if todo.publish:
                # Mosquitto grants a subscription its ACL will not serve and drops what the user may not
                # read: an empty answer is then no proof that nothing is retained. One alert goes first and
                # must come back on the subscription before the others follow.
                probe, *rest = todo.publish
                await self._settle(acks, [self._message(probe)], self.mqtt.message_properties())
                if not await _comes_back(messages, {self._topic(probe)}):
                    raise self._unreadable(f"what it was just sent on {self._topic(probe)} never came back")
                await self._settle(acks, [self._message(a) for a in rest], self.mqtt.message_properties())
        return todo

    def _message(self, alert: AlertTransition) -> tuple[str, bytes, bool]:
        return self._topic(alert), encode(alert), True

    async def _settle(
        self, acks: PubackWaiter, messages: list[tuple[str, bytes, bool]], properties: Properties | None
    ) -> None:
        """Publish retained fixes, a window of them in flight at once (one at a time, 3,000 stale alerts
        took two minutes on loopback); a lost connection ends the check, a refusal is said and skipped."""
        for start in range(0, len(messages), FIX_BATCH):
            chunk = messages[start : start + FIX_BATCH]
            outcomes = await acks.publish_many(chunk, properties=properties, timeout=FIX_TIMEOUT_S)
            for (topic, _payload, _retain), outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, aiomqtt.MqttError):
                    raise outcome
                if outcome is not None:
                    logger.warning("the broker refused a retained alert fix on %s: %s", topic, outcome)

    def _topic(self, alert: AlertTransition) -> str:
        return self.topics.alert(alert.site, alert.rule, alert.device, alert.channel)

    def _unreadable(self, why: str) -> RetainedUnreadable:
        return RetainedUnreadable(
            f"the broker does not let user {self.mqtt.username or '(anonymous)'} read "
            f"{self.topics.alerts_filter()}: {why}; retained alerts cannot be checked (the alerts user needs "
            "readwrite there, as backend/deploy/mosquitto/acl gives it)"
        )


async def _retained_burst(messages: AsyncIterator[aiomqtt.Message]) -> dict[str, bytes]:
    """Every retained message the broker sends as it grants the subscription. At QoS 0 none waits for an
    acknowledgement, so they come in one burst and a quiet spell ends it (no end marker exists that the
    alerts user may publish and no consumer of the alerts would see)."""
    found: dict[str, bytes] = {}
    async with asyncio.timeout(RETAINED_READ_MAX_S):
        while True:
            try:
                async with asyncio.timeout(RETAINED_QUIET_S):
                    message = await anext(messages)
            except TimeoutError:
                return found
            if message.retain and isinstance(message.payload, bytes):
                found[message.topic.value] = message.payload


async def _comes_back(messages: AsyncIterator[aiomqtt.Message], topics: set[str]) -> bool:
    """Whether a message on one of `topics` arrives on the subscription within ECHO_WAIT_S."""
    try:
        async with asyncio.timeout(ECHO_WAIT_S):
            async for message in messages:
                if message.topic.value in topics:
                    return True
    except TimeoutError:
        return False
    return False


class RetainedUnreadable(Exception):
    """The broker will not show this user the retained alerts (an ACL without read on the alerts topics)."""


def _refused(granted: int | ReasonCode) -> bool:
    return (granted.value if isinstance(granted, ReasonCode) else granted) >= FIRST_FAILURE_CODE


class AlertDispatcher:
    def __init__(
        self,
        state: RulesState,
        storage: Storage,
        publisher: AlertPublisher,
        notifiers: Sequence[Notifier] = (),
        *,
        active: Callable[[], Awaitable[ActiveAlerts]],
        source: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.state = state
        #: The engine's active alerts and its `source`: what the broker must retain (`reconcile`).
        self.active = active
        self.source = source
        self.clock = clock
        self._backoff = Backoff(base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S)
        self._outage = Outage("alert delivery", logger, clock)
        self._check_outage = Outage("retained alert check", logger, clock)
        self.storage = storage
        self.publisher = publisher
        self.notifiers = list(notifiers)
        self.delivered_total = 0
        self._wake = asyncio.Event()
        #: The broker's retained alerts are held against the engine's once the effects pending at start are
        #: out, and again whenever `check_retained_every` asks.
        self._retained_check_due = True
        self.retained_fixed_total = 0

    def notify(self) -> None:
        self._wake.set()

    async def check_retained_every(self, interval: float) -> None:
        """Ask for a retained-alert check every `interval` seconds (the service's task)."""
        while True:
            await self.clock.sleep(interval)
            self._retained_check_due = True
            self._wake.set()

    async def run(self) -> None:
        while True:
            # Cleared before the look, not after it: a notify() while the state is read must not be lost,
            # or a transition committed meanwhile would wait for the next one to be published.
            self._wake.clear()
            pending = await asyncio.to_thread(self.state.pending)
            if pending:
                await self._deliver_all(pending)
            elif self._retained_check_due:
                await self._check_retained()
            else:
                await self._wake.wait()

    async def _deliver_all(self, pending: Sequence[Effects]) -> None:
        for effects in pending:
            try:
                await self._deliver(effects)
            except (StorageUnavailable, aiomqtt.MqttError, OSError) as exc:
                self._outage.failed(f"{exc} (will retry)")
                await self.clock.sleep(self._backoff.next_delay())
                return
            self._outage.recovered()
            self._backoff.reset()
            await asyncio.to_thread(self.state.delivered, effects.id)
            self.delivered_total += len(effects.transitions)

    async def _check_retained(self) -> None:
        """Run after every pending effect is out, so the broker is compared with what was published. A
        check that fails waits for its next turn: it must never hold transitions back (the delivery loop
        does not sleep for it)."""
        self._retained_check_due = False  # a check asked for while this one runs is asked for again
        try:
            done = await self.publisher.reconcile(self.active, self.source)
        except RetainedUnreadable as exc:
            logger.warning("%s", exc)  # a setup mistake, not an outage: said again at the next check
            return
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            self._check_outage.failed(f"{exc} (checked again at its next turn)")
            return
        self._check_outage.recovered()
        self.retained_fixed_total += done.changes
        for topic in done.clear:
            logger.warning("cleared retained alert %s: not an active alert of this rules worker", topic)
        for alert in done.publish:
            logger.warning(
                "retained alert %s was missing or out of date on the broker: published", alert.alert_id
            )
        for topic, why in done.foreign:
            logger.info("retained %s left alone: %s", topic, why)

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
