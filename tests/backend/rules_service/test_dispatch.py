"""The dispatcher never sleeps on a transition: one committed while it was looking at the rules state (the
rules service commits from its own task, the dispatcher reads the state in a thread) is published at once,
not when the next transition happens to come. Real rules state (SQLite), storage and Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Final, cast

import pytest

from backend.config import BackendMqtt
from backend.rules_service.dispatch import AlertDispatcher, AlertPublisher, RetainedUnreadable
from backend.rules_service.retained import ActiveAlerts
from backend.rules_service.state import Effects, RulesState
from backend.storage.sqlite import SqliteStorage
from pantau.contract import AlertTransition
from pantau.contract.examples import example_messages
from tests.harness.backend import eventually
from tests.harness.mosquitto import Mosquitto
from tests.harness.mosquitto_acl import start_acl_broker

#: The contract's example alert, as this test's worker raised it.
ALERT: Final = cast(AlertTransition, example_messages()["alert"]).model_copy(
    update={"source": "backend-test"}
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


@pytest.mark.services  # a broker of its own, with an ACL
@pytest.mark.parametrize("protocol", [5, 311])
async def test_a_broker_that_will_not_show_the_retained_alerts_is_named_not_taken_for_an_empty_one(
    tmp_path: Path, mqtt_topic_root: str, protocol: int
) -> None:
    # The alerts user may publish alerts but not read them: with an empty answer taken for "nothing is
    # retained", every check would publish every active alert again and never clear a stale one.
    acl = start_acl_broker(tmp_path, user="backend-alerts", prefix=mqtt_topic_root, site="alerts")
    try:
        mqtt = BackendMqtt(
            host=acl.broker.host,
            port=acl.broker.port,
            topic_prefix=mqtt_topic_root,
            username="backend-alerts",
            password_file=acl.password_file,
            protocol=protocol,
        )
        publisher = AlertPublisher(mqtt, "backend-alerts")
        await publisher.publish([ALERT])  # publishing is allowed

        async def active() -> ActiveAlerts:
            return ActiveAlerts([ALERT])

        with pytest.raises(RetainedUnreadable, match=r"does not let user backend-alerts read .*/alerts/#"):
            await publisher.reconcile(active, "backend-test")
    finally:
        acl.broker.stop()
