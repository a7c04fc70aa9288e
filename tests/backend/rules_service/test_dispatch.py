"""The dispatcher never sleeps on a transition: one committed while it was looking at the rules state (the
rules service commits from its own task, the dispatcher reads the state in a thread) is published at once,
not when the next transition happens to come. Real rules state (SQLite), storage and Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from backend.config import BackendMqtt
from backend.rules_service.dispatch import AlertDispatcher, AlertPublisher
from backend.rules_service.retained import ActiveAlerts
from backend.rules_service.state import Effects, RulesState
from backend.storage.sqlite import SqliteStorage
from pantau.contract import AlertTransition
from tests.harness.backend import eventually
from tests.harness.mosquitto import Mosquitto

T0: Final = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
ALERT: Final = AlertTransition(
    site="ampal-mufakat",
    ts=T0,
    source="backend-test",
    seq=1,
    alert_id="muka-air:ampal-mufakat:wl-radar:level",
    rule="muka-air",
    device="wl-radar",
    channel="level",
    state="firing",
    severity=4,
    message="Siaga",
    started_at=T0,
)


class CommitWhileLooking(RulesState):
    """The rules state, with a transition committed (and the dispatcher told) while the dispatcher's second
    look is under way: after it read nothing, before it goes to sleep."""

    dispatcher: AlertDispatcher

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.looks = 0

    def pending(self, limit: int = 100) -> list[Effects]:
        found = super().pending(limit)
        self.looks += 1
        if self.looks == 2:  # the first look is followed by the retained-alert check, not by sleep
            self.commit([ALERT], [], entry={"kind": "test"})
            self.dispatcher.notify()
        return found


async def test_a_transition_committed_while_the_dispatcher_looks_is_published_without_waiting(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path, sqlite_storage: SqliteStorage
) -> None:
    mqtt = BackendMqtt(host=mosquitto.host, port=mosquitto.port, topic_prefix=mqtt_topic_root)
    state = CommitWhileLooking(tmp_path / "rules.sqlite3")

    async def active() -> ActiveAlerts:
        return ActiveAlerts([ALERT] if state.looks >= 2 else [], state.settling())

    dispatcher = AlertDispatcher(
        state,
        sqlite_storage,
        AlertPublisher(mqtt, "dispatch-test"),
        active=active,
        source="backend-test",
    )
    state.dispatcher = dispatcher
    task = asyncio.create_task(dispatcher.run(), name="dispatch")
    try:
        await eventually(lambda: dispatcher.delivered_total == 1, timeout=15, what="the transition published")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        state.close()
