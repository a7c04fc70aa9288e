"""The rules engine on the live stream: subscribe, evaluate, commit state and effects, then acknowledge.

Runs in one worker only (`rules:` in backend.yaml). It subscribes under its own client id, never in the
ingest group: the engine's state (pending timers, windows) needs every message of a series. Per batch:

    evaluate every message -> commit journal entry + effects (RulesState, one transaction) -> PUBACK

with a snapshot of the whole engine instead of the entry once a minute (`state.py`), so a crash repeats
at most an unacknowledged batch, which the engine's alert lifecycle turns into no new transitions.
Effects (QC and ODOL fields, drift points, transitions) reach storage, MQTT and notifiers through the
AlertDispatcher; an outage there delays them and never blocks evaluation.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Final

from backend.config import BackendConfig, RulesServiceConfig
from backend.ingest.clock_skew import check_time
from backend.ingest.senders import SenderCheck
from backend.ingest.subscriber import Incoming, Subscriber, Subscription
from backend.inventory import SiteInventory
from backend.rules import RuleEngine, RulesFile
from backend.rules.coverage import load_checked_rules
from backend.rules_service.alert_book import UnknownAlert
from backend.rules_service.dispatch import AlertDispatcher, AlertPublisher
from backend.rules_service.effects import evaluate
from backend.rules_service.journal import ack_entry, batch_entry, replay, tick_entry
from backend.rules_service.notifiers import Notifier, build_notifier
from backend.rules_service.retained import ActiveAlerts
from backend.rules_service.state import RulesState, RulesStateError
from backend.storage.model import Point, Storage
from pantau.contract import (
    AlertTransition,
    ContractError,
    Message,
    Topics,
    decode,
)
from pantau.resilience import SYSTEM_CLOCK, Clock

logger = logging.getLogger(__name__)

#: The engine's whole state is saved this often; the journal covers the steps in between.
SNAPSHOT_EVERY_S: Final = 60.0
#: ... or sooner, once the journal holds this many messages: bounds the replay at a restart (seconds).
JOURNAL_MAX_MESSAGES: Final = 20_000


class RulesService:
    """Owns the engine; batches, ticks and acknowledgements take turns under one lock, so the committed
    snapshot and journal always match the effects committed with them."""

    def __init__(
        self,
        config: BackendConfig,
        storage: Storage,
        inventory: SiteInventory,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if config.rules is None:
            raise ValueError("the rules service needs a `rules:` section")
        self.settings: RulesServiceConfig = config.rules
        self.clock_skew = config.clock_skew
        #: What the engine's `now` is read from and the tick loop sleeps on.
        self.clock = clock
        self.topics = Topics(config.mqtt.topic_prefix)
        # The same check as ingest's: data ingest dead-letters as spoofed must not raise or clear an alert.
        self.senders = SenderCheck.for_backend(config, inventory)
        # A selector that names nothing stops the start here (ConfigError), unless its rule allows it.
        rules, warnings = load_checked_rules(self.settings.file, inventory.catalog())
        for warning in warnings:
            logger.warning("%s", warning)
        #: The rules as loaded, stored with each snapshot: the journal after it is re-run under them.
        self.rules_document = rules.model_dump_json()
        self.state = _open_state(config.rules_state_path())
        self.engine = self._restore(RuleEngine(rules, inventory, config.worker_id))
        self.notifiers: list[Notifier] = [
            build_notifier(name, notifier, clock) for name, notifier in self.settings.notifiers.items()
        ]
        publisher = AlertPublisher(config.alerts_mqtt, f"{config.rules_client_id}-alerts")
        self.dispatcher = AlertDispatcher(
            self.state,
            storage,
            publisher,
            self.notifiers,
            active=self.alerts_to_retain,
            source=self.engine.source,
            clock=clock,
        )
        subscription = Subscription(
            config.rules_mqtt,
            config.rules_client_id,
            shared_group=None,
            batch_messages=self.settings.batch_messages,
            batch_linger=self.settings.batch_linger.total_seconds(),
        )
        self.subscriber = Subscriber(subscription, self.handle, clock=clock)
        self.evaluated_total = 0
        self.transitions_total = 0
        self._lock = asyncio.Lock()
        self._last_snapshot = 0.0
        self._journal_messages = 0
        #: Ticks since the last journal entry that moved no alert (module docstring of journal.py).
        self._silent_ticks: list[str] = []
        #: A commit that failed: the engine is ahead of its durable state, so the service stops (tick loop).
        self._failed: RulesStateError | None = None

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.subscriber.run(), name="rules-subscribe")
                tasks.create_task(self.dispatcher.run(), name="rules-dispatch")
                tasks.create_task(self._tick(), name="rules-tick")
                tasks.create_task(
                    self.dispatcher.check_retained_every(self.settings.retained_check.total_seconds()),
                    name="rules-retained-check",
                )
                for notifier in self.notifiers:
                    tasks.create_task(notifier.run(), name=f"notify[{notifier.name}]")
        finally:
            self.state.close()

    async def handle(self, batch: list[Incoming]) -> None:
        """Evaluate one batch and make its outcome durable; the subscriber acknowledges it after this."""
        async with self._lock:
            self._raise_if_failed()
            now = self.clock.now()
            transitions: list[AlertTransition] = []
            points: list[Point] = []
            messages: list[Message] = []
            for incoming in batch:
                message = self._decode(incoming)
                if message is None:
                    continue
                # Marked before the journal records it, so a replay evaluates exactly what ran live.
                message = check_time(message, now, self.clock_skew)
                messages.append(message)
                found, stored = evaluate(self.engine, message, now)
                transitions.extend(found)
                points.extend(stored)
            self.evaluated_total += len(batch)
            if messages:
                entry = batch_entry(now, messages, self._silent_ticks)
                await self._commit(transitions, points, entry, len(messages))

    def active(self) -> list[AlertTransition]:
        """Every pending or firing alert, most severe first (the API's AlertBook)."""
        return sorted(self.engine.active_alerts(), key=lambda t: (-t.severity, t.alert_id))

    async def acknowledge(
        self, alert_id: str, by: str, note: str | None, *, key: str | None = None
    ) -> AlertTransition:
        """An operator owns an alert: stored, published and notified like any transition.

        Shielded: an API client that hangs up must not cancel the step between the engine's change and its
        commit, or the engine would run ahead of its journal while the service goes on."""
        return await asyncio.shield(self._acknowledge(alert_id, by, note, key))

    async def _acknowledge(
        self, alert_id: str, by: str, note: str | None, key: str | None
    ) -> AlertTransition:
        async with self._lock:
            self._raise_if_failed()
            now = self.clock.now()
            transition = self.engine.acknowledge(alert_id, by, now, note, key=key)
            if transition is None:
                raise UnknownAlert(alert_id)
            entry = ack_entry(now, self._silent_ticks, alert_id=alert_id, by=by, note=note, key=key)
            await self._commit([transition], [], entry)
        return transition

    async def _tick(self) -> None:
        every = self.settings.tick.total_seconds()
        while True:
            await self.clock.sleep(every)
            async with self._lock:
                self._raise_if_failed()
                await self.tick_once()

    async def tick_once(self) -> None:
        """Let the engine's clock run once (the tick loop; tests call it directly). Call under the lock."""
        now = self.clock.now()
        transitions = self.engine.tick(now)
        if transitions:
            await self._commit(transitions, [], tick_entry(now, self._silent_ticks))
            return
        self._silent_ticks.append(now.isoformat())
        if self._snapshot_due():
            await self._commit([], [], None)

    async def _commit(
        self,
        transitions: list[AlertTransition],
        points: list[Point],
        entry: dict[str, Any] | None,
        messages: int = 0,
    ) -> None:
        """Commit effects with the step's journal entry, or with a snapshot when one is due (or the step
        has no entry: a silent tick)."""
        self._journal_messages += messages
        self._silent_ticks = []  # in `entry`, or covered by the snapshot
        try:
            if entry is None or self._snapshot_due():
                snapshot = self.engine.snapshot()
                await asyncio.to_thread(
                    self.state.commit, transitions, points, snapshot=snapshot, rules=self.rules_document
                )
                self._last_snapshot = asyncio.get_running_loop().time()
                self._journal_messages = 0
            else:
                await asyncio.to_thread(self.state.commit, transitions, points, entry=entry)
        except RulesStateError as exc:
            logger.critical("rules state commit failed, stopping the rules service: %s", exc)
            self._failed = exc
            raise
        self.transitions_total += len(transitions)
        if transitions or points:
            self.dispatcher.notify()

    async def alerts_to_retain(self) -> ActiveAlerts:
        """The active alerts and those with a transition still to deliver, read together under the lock
        `handle` evaluates and commits under, so no transition falls between the two."""
        async with self._lock:
            alerts = self.engine.active_alerts()
            settling = await asyncio.to_thread(self.state.settling)
        return ActiveAlerts(alerts, settling)

    def _snapshot_due(self) -> bool:
        elapsed = asyncio.get_running_loop().time() - self._last_snapshot
        return elapsed >= SNAPSHOT_EVERY_S or self._journal_messages >= JOURNAL_MAX_MESSAGES

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise self._failed

    def _restore(self, fresh: RuleEngine) -> RuleEngine:
        """The engine as it was: the snapshot (if any) with the journal since re-run through it, under the
        rules they were written under; then the rules as loaded now, as `RuleEngine.restore` applies an
        edited rules file to a snapshot. The result is snapshotted at once, so the next restart does not
        replay the same steps again.

        A state this build cannot read (a snapshot of another version, a damaged entry) is set aside and
        the engine starts afresh: alerts still active fire again as the data comes, which beats a backend
        that will not start."""
        engine = fresh
        try:
            saved, journal, document = (
                self.state.snapshot(),
                self.state.journal(),
                self.state.rules_document(),
            )
            if saved is not None or journal:
                written_under = RulesFile.model_validate_json(document) if document else fresh.rules
                engine = RuleEngine(written_under, fresh.inventory, fresh.source)
                if saved is not None:
                    engine = RuleEngine.restore(written_under, fresh.inventory, fresh.source, saved)
                replayed = replay(engine, journal)
                if document != self.rules_document:
                    engine = RuleEngine.restore(fresh.rules, fresh.inventory, fresh.source, engine.snapshot())
                logger.info(
                    "rules state restored: %d active alert(s); journal re-run: %d step(s), %d message(s)%s",
                    len(engine.active_alerts()),
                    replayed.steps,
                    replayed.messages,
                    "; the rules file changed since" if document != self.rules_document else "",
                )
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with the file, the service must run
            kept = self.state.set_aside(_stamp())
            logger.error(  # noqa: TRY400 - the reason is the message; a traceback of old data helps nobody
                "rules state %s cannot be restored (%s: %s); set aside as %s, starting afresh: alerts still "
                "active will fire again",
                self.state.path,
                type(exc).__name__,
                exc,
                kept,
            )
            engine = RuleEngine(fresh.rules, fresh.inventory, fresh.source)
        self.state.commit([], [], snapshot=engine.snapshot(), rules=self.rules_document)
        return engine

    def _decode(self, incoming: Incoming) -> Message | None:
        if not incoming.payload:
            return None  # a cleared retained topic
        try:
            message = decode(incoming.payload, topic=incoming.topic, topics=self.topics)
        except ContractError:
            return None  # ingest dead-letters it with the reason; the engine only sees valid messages
        if self.senders is not None and self.senders.refuse(message) is not None:
            return None  # ingest dead-letters it too (backend/ingest/senders.py)
        return message


def _stamp() -> str:
    return SYSTEM_CLOCK.now().strftime("%Y%m%dT%H%M%SZ")


def _open_state(path: Path) -> RulesState:
    """The rules state at `path`; a file SQLite cannot open as a database is moved aside, not fatal."""
    try:
        return RulesState(path)
    except RulesStateError as exc:
        if not path.is_file():
            raise
        kept = path.with_name(f"{path.name}.unrestorable-{_stamp()}")
        for suffix in ("", "-wal", "-shm"):
            damaged = path.with_name(path.name + suffix)
            if damaged.exists():
                damaged.rename(kept.with_name(kept.name + suffix))
        logger.error(  # noqa: TRY400 - the reason is the message
            "rules state %s cannot be opened (%s); moved aside as %s, starting afresh", path, exc, kept
        )
        return RulesState(path)
