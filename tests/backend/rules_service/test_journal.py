"""The rules state between snapshots: every step (batch, tick that moved an alert, acknowledgement) is
journalled, and a restart re-runs the journal to the very engine it left, whatever the windows hold.

The service is driven step by step with a manual clock (no subscription runs: `handle` and `tick_once` are
what the subscriber and the tick loop call); the broker in the config is never connected to.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.config import BackendConfig
from backend.ingest.subscriber import Incoming
from backend.inventory import SiteInventory
from backend.rules_service.live import RulesService
from backend.rules_service.state import RulesState
from backend.storage.model import Retention
from backend.storage.sqlite import SqliteStorage
from pantau.contract import AlertTransition, Message, Reading, Readings, Topics, encode
from pantau.resilience import VirtualClock
from tests.backend.rules_service.test_rules_service import RULES, TRUCKS, hydrograph, truck
from tests.harness.alerts import SITES, rules_config
from tests.harness.backend import topic_for
from tests.harness.mosquitto import Mosquitto

START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


class ManualClock(VirtualClock):
    """The kit's virtual clock, its wall time set where each step of a test wants it."""

    def set(self, now: datetime) -> None:
        self.step_wall((now - self.now()).total_seconds())


def service(config: BackendConfig, clock: ManualClock, tmp_path: Path) -> RulesService:
    storage = SqliteStorage(tmp_path / "unused.sqlite3", Retention())  # the dispatcher never runs here
    return RulesService(config, storage, SiteInventory.load(SITES), clock=clock)


async def feed(svc: RulesService, clock: ManualClock, messages: list[Message], topics: Topics) -> None:
    """One batch per message timestamp, and a tick after each, as the live service takes them."""
    for seq, message in enumerate(messages):
        clock.set(message.ts + timedelta(seconds=2))
        incoming = Incoming(topic_for(topics, message), encode(message), seq + 1, 1, 0.0)
        await svc.handle([incoming])
        clock.set(clock.now() + timedelta(seconds=1))
        await svc.tick_once()


def water_level_alerts(svc: RulesService) -> list[AlertTransition]:
    return [t for t in svc.active() if t.rule == "muka-air"]


def reading(minute: int, level: float) -> Readings:
    return Readings(
        site="ampal-mufakat",
        gateway="gw-ampal-mufakat",
        seq=minute + 1,
        ts=START + timedelta(minutes=minute),
        device="wl-radar",
        channels={"level": Reading(value=level, unit="m")},
    )


async def test_a_restart_re_runs_the_journal_to_the_same_engine(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    config = rules_config(mosquitto, mqtt_topic_root, tmp_path, RULES)
    topics = Topics(mqtt_topic_root)
    clock = ManualClock(START)
    first = service(config, clock, tmp_path)
    storm = hydrograph(START)[:150]  # through Waspada and Siaga, Awas pending
    trucks = [
        truck(n, START + timedelta(minutes=n, seconds=30), configuration, loads)
        for n, (configuration, loads, _, _) in enumerate(TRUCKS * 5)
    ]
    await feed(first, clock, sorted([*storm, *trucks], key=lambda m: m.ts), topics)
    (active,) = [t for t in first.active() if t.rule == "muka-air"]
    await first.acknowledge(active.alert_id, "operator-1", "petugas menuju lokasi", key="ops-center")
    await feed(first, clock, hydrograph(START)[150:170], topics)
    expected = first.engine.snapshot()
    state = RulesState(config.rules_state_path())
    journal = state.journal()
    state.close()
    first.state.close()
    # The first step was snapshotted (none was due yet), every later one journalled: no snapshot per batch.
    batches = sum(entry["op"] == "batch" for entry in journal)
    assert batches == len(storm) + len(trucks) + 20 - 1  # every message a batch of its own; ticks, acks apart
    assert {entry["op"] for entry in journal} == {"batch", "tick", "ack"}
    assert expected["rules"]["muka-air"]["state"], "the engine holds state for the storm"

    second = service(config, clock, tmp_path)
    try:
        assert second.engine.snapshot() == expected
        assert second.state.journal() == [], "the re-run state is snapshotted, not replayed again"
        (still,) = [t for t in second.active() if t.rule == "muka-air"]
        assert still.acknowledgement is not None
        assert still.acknowledgement.by == "operator-1"
        assert still.acknowledgement.key == "ops-center", "the journal keeps who was authenticated too"
    finally:
        second.state.close()


async def test_a_journal_is_re_run_under_its_own_rules_then_the_edited_ones_apply(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    """Rules edited between a crash and the restart: the journal is re-run under the rules it was written
    under, so an alert fired since the last snapshot is still known, and resolves under the edited rules."""
    lowered = RULES.replace("trigger: 1.5, clear: 1.4", "trigger: 1.2, clear: 1.1")
    config = rules_config(mosquitto, mqtt_topic_root, tmp_path, lowered)
    topics = Topics(mqtt_topic_root)
    clock = ManualClock(START)
    first = service(config, clock, tmp_path)
    # 1.3 m: over the lowered Waspada trigger (1.2 m), under the shipped one (1.5 m).
    await feed(first, clock, [reading(minute, 1.0 if minute < 3 else 1.3) for minute in range(10)], topics)
    assert [(t.state, t.level) for t in water_level_alerts(first)] == [("firing", "Waspada")]
    assert first.state.journal(), "the firing came after the last snapshot: only the journal holds it"
    delivered = len(first.state.pending(limit=10_000))
    first.state.close()

    config = rules_config(mosquitto, mqtt_topic_root, tmp_path, RULES)  # rewrites the rules file
    edited = service(config, clock, tmp_path)
    try:
        assert [(t.state, t.level) for t in water_level_alerts(edited)] == [("firing", "Waspada")]
        assert len(edited.state.pending(limit=10_000)) == delivered, "the replay delivers nothing twice"
        await feed(edited, clock, [reading(minute, 1.0) for minute in range(10, 30)], topics)
        assert water_level_alerts(edited) == []
        states = [
            t.state for e in edited.state.pending(limit=10_000) for t in e.transitions if t.rule == "muka-air"
        ]
        assert states == ["pending", "firing", "resolved"]
    finally:
        edited.state.close()


def _version_999(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE snapshot SET data = json_set(data, '$.version', 999)")


def _truncated_journal_entry(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE journal SET entry = substr(entry, 1, 40) WHERE id = (SELECT max(id) FROM journal)")


def _not_a_database(path: Path) -> None:
    for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        sidecar.unlink(missing_ok=True)
    path.write_bytes(b"\x00garbage from a failing SD card" * 100)


@pytest.mark.parametrize(
    ("damage", "logged"),
    [
        (_version_999, "snapshot version 999"),
        (_truncated_journal_entry, "JSONDecodeError"),
        (_not_a_database, "cannot be opened"),
    ],
)
async def test_a_state_this_build_cannot_read_is_set_aside_and_the_engine_starts_afresh(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
    logged: str,
) -> None:
    """Another snapshot version, a damaged entry or a file that is no database must not keep the backend
    down: what cannot be read is kept beside it for a post-mortem."""
    config = rules_config(mosquitto, mqtt_topic_root, tmp_path, RULES)
    topics = Topics(mqtt_topic_root)
    clock = ManualClock(START)
    first = service(config, clock, tmp_path)
    await feed(first, clock, hydrograph(START)[:100], topics)
    assert water_level_alerts(first), "the storm is under way"
    first.state.close()
    path = config.rules_state_path()
    damage(path)

    with caplog.at_level(logging.ERROR, logger="backend.rules_service.live"):
        second = service(config, clock, tmp_path)
    try:
        assert second.active() == [], "a fresh engine"
        assert logged in caplog.text, caplog.text
        assert list(path.parent.glob(f"{path.name}.unrestorable-*")), "what could not be read is kept"
        assert second.state.journal() == []
        await feed(second, clock, hydrograph(START)[100:110], topics)
        assert water_level_alerts(second), "and it judges the data again"
    finally:
        second.state.close()
