"""The rules engine on the live stream: subscribe, evaluate, commit state and effects, then acknowledge.

Runs in one worker only (`rules:` in backend.yaml). It subscribes under its own client id, never in the
ingest group: the engine's state (pending timers, windows) needs every message of a series. Per batch:

    evaluate every message -> commit snapshot + effects (RulesState, one transaction) -> PUBACK

so a crash repeats at most an unacknowledged batch, which the engine's alert book turns into no new
transitions. Effects (QC and ODOL fields, drift points, transitions) reach storage, MQTT and notifiers
through the AlertDispatcher; an outage there delays them and never blocks evaluation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from backend.alerts.book import UnknownAlert
from backend.alerts.dispatch import AlertDispatcher, AlertPublisher
from backend.alerts.notifiers import Notifier, build_notifier
from backend.alerts.state import RulesState
from backend.config import BackendConfig, RulesServiceConfig
from backend.ingest.subscriber import Incoming, Subscriber, Subscription
from backend.rules import RuleEngine, load_rules
from backend.rules.inventory import Inventory
from backend.storage.model import Point, Storage
from backend.storage.schema import qc_point, scale_drift_point, vehicle_point, vehicle_verdict_point
from pantau.contract import (
    AlertTransition,
    ContractError,
    DeviceStatus,
    GatewayStatus,
    Message,
    Readings,
    Topics,
    Vehicle,
    decode,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: The engine's state is saved this often even when nothing transitions (windows move, timers run).
SNAPSHOT_EVERY_S: Final = 60.0


def evaluate(
    engine: RuleEngine, message: Message, now: datetime
) -> tuple[list[AlertTransition], list[Point]]:
    """One contract message through the engine: the transitions it caused and the points to store."""
    if isinstance(message, Readings):
        evaluation = engine.on_readings(message, now)
        points = [
            qc_point(message, channel, verdict.flag, verdict.reason)
            for channel, verdict in evaluation.qc.items()
        ]
        return evaluation.transitions, points
    if isinstance(message, Vehicle):
        judged = engine.on_vehicle(message, now)
        points = [vehicle_point(message, judged.fields())]
        if (verdict := judged.verdict) is not None:
            points.append(
                vehicle_verdict_point(
                    message,
                    verdict=verdict.verdict,
                    configuration=verdict.axle_configuration,
                    excess_kg=verdict.excess_kg,
                    esal=verdict.esal,
                )
            )
        points.extend(
            scale_drift_point(
                site=u.site,
                device=u.device,
                rule=u.rule,
                at=u.at,
                samples=u.samples,
                median_kg=u.median_kg,
                reference_kg=u.reference_kg,
                drift_pct=u.drift_pct,
            )
            for u in judged.drift
            if u.median_kg is not None and u.drift_pct is not None
        )
        return judged.transitions, points
    if isinstance(message, GatewayStatus):
        return engine.on_gateway_status(message, now), []
    if isinstance(message, DeviceStatus):
        return engine.on_device_status(message, now), []
    return [], []  # alert transitions are the engine's own output, never its input


class RulesService:
    """Owns the engine; batches, ticks and acknowledgements take turns under one lock, so a committed
    snapshot always matches the effects committed with it."""

    def __init__(
        self,
        config: BackendConfig,
        storage: Storage,
        inventory: Inventory,
        clock: Clock | None = None,
    ) -> None:
        if config.rules is None:
            raise ValueError("the rules service needs a `rules:` section")
        self.settings: RulesServiceConfig = config.rules
        self.clock = clock or (lambda: datetime.now(UTC))
        self.topics = Topics(config.mqtt.topic_prefix)
        rules = load_rules(self.settings.file)
        self.state = RulesState(config.rules_state_path())
        saved = self.state.snapshot()
        source = config.worker_id
        if saved is None:
            self.engine = RuleEngine(rules, inventory, source)
        else:
            self.engine = RuleEngine.restore(rules, inventory, source, saved)
            logger.info("rules state restored: %d active alert(s)", len(self.engine.active_alerts()))
        self.notifiers: list[Notifier] = [
            build_notifier(name, notifier) for name, notifier in self.settings.notifiers.items()
        ]
        publisher = AlertPublisher(config.mqtt, f"{config.rules_client_id}-alerts")
        self.dispatcher = AlertDispatcher(self.state, storage, publisher, self.notifiers)
        subscription = Subscription(
            config.mqtt,
            config.rules_client_id,
            shared_group=None,
            batch_messages=self.settings.batch_messages,
            batch_linger=self.settings.batch_linger.total_seconds(),
        )
        self.subscriber = Subscriber(subscription, self.handle)
        self.evaluated_total = 0
        self.transitions_total = 0
        self._lock = asyncio.Lock()
        self._last_snapshot = 0.0

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.subscriber.run(), name="rules-subscribe")
                tasks.create_task(self.dispatcher.run(), name="rules-dispatch")
                tasks.create_task(self._tick(), name="rules-tick")
                for notifier in self.notifiers:
                    tasks.create_task(notifier.run(), name=f"notify[{notifier.name}]")
        finally:
            self.state.close()

    async def handle(self, batch: list[Incoming]) -> None:
        """Evaluate one batch and make its outcome durable; the subscriber acknowledges it after this."""
        async with self._lock:
            now = self.clock()
            transitions: list[AlertTransition] = []
            points: list[Point] = []
            for incoming in batch:
                message = self._decode(incoming)
                if message is None:
                    continue
                found, stored = evaluate(self.engine, message, now)
                transitions.extend(found)
                points.extend(stored)
            self.evaluated_total += len(batch)
            await self._commit(transitions, points, force=True)  # status messages move state too

    def active(self) -> list[AlertTransition]:
        """Every pending or firing alert, most severe first (the API's AlertBook)."""
        return sorted(self.engine.active_alerts(), key=lambda t: (-t.severity, t.alert_id))

    async def acknowledge(self, alert_id: str, by: str, note: str | None) -> AlertTransition:
        """An operator owns an alert: stored, published and notified like any transition."""
        async with self._lock:
            transition = self.engine.acknowledge(alert_id, by, self.clock(), note)
            if transition is None:
                raise UnknownAlert(alert_id)
            await self._commit([transition], [], force=True)
        return transition

    async def _tick(self) -> None:
        every = self.settings.tick.total_seconds()
        while True:
            await asyncio.sleep(every)
            async with self._lock:
                await self._commit(self.engine.tick(self.clock()), [])

    async def _commit(
        self, transitions: list[AlertTransition], points: list[Point], *, force: bool = False
    ) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() - self._last_snapshot >= SNAPSHOT_EVERY_S
        if not (transitions or points or force or due):
            return
        await asyncio.to_thread(self.state.commit, self.engine.snapshot(), transitions, points)
        self._last_snapshot = loop.time()
        self.transitions_total += len(transitions)
        if transitions or points:
            self.dispatcher.notify()

    def _decode(self, incoming: Incoming) -> Message | None:
        if not incoming.payload:
            return None  # a cleared retained topic
        try:
            return decode(incoming.payload, topic=incoming.topic, topics=self.topics)
        except ContractError:
            return None  # ingest dead-letters it with the reason; the engine only sees valid messages
