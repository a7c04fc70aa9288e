"""One retained message per active alert: a rule that watches two water-level channels raises two alerts,
and a subscriber that connects late is handed both (it was handed one of them when the topic was the
rule's); an alert that resolves leaves nothing retained behind. Real worker, rules service and Mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import aiomqtt

from backend.storage.sqlite import SqliteStorage
from backend.worker import BackendWorker
from pantau.contract import AlertTransition, Reading, Readings, Topics, decode, encode
from tests.harness.alerts import AlertListener, rules_config, rules_worker
from tests.harness.backend import GatewayFactory, eventually
from tests.harness.mosquitto import Mosquitto
from tests.harness.retained import retained_under

T0: Final = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
RULES: Final = """
language: en
rules:
  - id: muka-air
    kind: levels
    select: {site: ampal-mufakat, device: [wl-radar, wl-pressure], channel: level}
    unit: m
    levels:
      - {name: Siaga, trigger: 2.0, clear: 1.9, severity: 4}
"""


def _levels(seq: int, minute: int, radar: float, pressure: float) -> list[Readings]:
    return [
        Readings(
            site="ampal-mufakat",
            gateway="gw-ampal-mufakat",
            seq=seq + i,
            ts=T0 + timedelta(minutes=minute),
            device=device,
            channels={"level": Reading(value=value, unit="m")},
        )
        for i, (device, value) in enumerate((("wl-radar", radar), ("wl-pressure", pressure)))
    ]


async def _retained_alerts(broker: Mosquitto, prefix: str) -> dict[str, AlertTransition]:
    found = await retained_under(broker.host, broker.port, f"{prefix}/alerts")
    out = {}
    for topic, payload in found.items():
        message = decode(payload, topic=topic, topics=Topics(prefix))
        assert isinstance(message, AlertTransition)
        out[topic] = message
    return out


def _firing(worker: BackendWorker) -> set[str]:
    assert worker.rules is not None
    return {t.alert_id for t in worker.rules.active()}


async def test_every_active_alert_is_retained_on_its_own_topic_and_cleared_when_it_resolves(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    sqlite_storage: SqliteStorage,
    gateway: GatewayFactory,
    alerts: AlertListener,
) -> None:
    config = rules_config(mosquitto, mqtt_topic_root, tmp_path, RULES)
    both = {"muka-air:ampal-mufakat:wl-radar:level", "muka-air:ampal-mufakat:wl-pressure:level"}
    async with rules_worker(config, sqlite_storage) as worker, gateway() as gw:
        await gw.send(_levels(1, 0, 2.2, 2.3))
        await eventually(lambda: _firing(worker) == both, what="both alerts firing")
        await eventually(lambda: len(alerts.of("muka-air")) == 2, what="both transitions published")
        retained = await _retained_alerts(mosquitto, mqtt_topic_root)
        assert {m.alert_id for m in retained.values()} == both
        assert sorted(retained) == [
            f"{mqtt_topic_root}/alerts/ampal-mufakat/muka-air/wl-pressure/level",
            f"{mqtt_topic_root}/alerts/ampal-mufakat/muka-air/wl-radar/level",
        ]
        assert all(m.state == "firing" and m.previous_state is None for m in retained.values())

        await gw.send(_levels(3, 1, 2.2, 1.0))  # the pressure sensor's level falls below its clear
        await eventually(lambda: len(alerts.cleared) == 1, what="the resolved alert's topic cleared")
        assert [t.state for t in alerts.of("muka-air")][-1] == "resolved"
        retained = await _retained_alerts(mosquitto, mqtt_topic_root)
    assert {m.alert_id for m in retained.values()} == {"muka-air:ampal-mufakat:wl-radar:level"}
    assert alerts.cleared == [f"{mqtt_topic_root}/alerts/ampal-mufakat/muka-air/wl-pressure/level"]


async def _retain(broker: Mosquitto, messages: dict[str, bytes]) -> None:
    """Set (or, with an empty payload, clear) retained messages as another client would."""
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        for topic, payload in messages.items():
            await client.publish(topic, payload, qos=1, retain=True)


def _stray(prefix: str, source: str, rule: str, device: str | None = None) -> tuple[str, bytes]:
    """A retained alert the engine does not hold, as a crash, a removed rule or an older release left it."""
    topics = Topics(prefix)
    alert = AlertTransition(
        site="ampal-mufakat",
        ts=T0,
        source=source,
        seq=1,
        alert_id=f"{rule}:ampal-mufakat:{device or '-'}",
        rule=rule,
        device=device,
        state="firing",
        severity=4,
        message="left behind",
        started_at=T0,
    )
    return topics.alert("ampal-mufakat", rule, device), encode(alert)


async def test_the_broker_is_made_to_retain_exactly_the_active_alerts_at_start_and_on_every_check(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    sqlite_storage: SqliteStorage,
    gateway: GatewayFactory,
) -> None:
    config = rules_config(mosquitto, mqtt_topic_root, tmp_path, RULES, rules_section={"retained_check": "1s"})
    both = {"muka-air:ampal-mufakat:wl-radar:level", "muka-air:ampal-mufakat:wl-pressure:level"}
    own = {
        f"{mqtt_topic_root}/alerts/ampal-mufakat/muka-air/wl-pressure/level",
        f"{mqtt_topic_root}/alerts/ampal-mufakat/muka-air/wl-radar/level",
    }
    async with rules_worker(config, sqlite_storage) as worker, gateway() as gw:
        await gw.send(_levels(1, 0, 2.2, 2.3))
        await eventually(lambda: _firing(worker) == both, what="both alerts firing")
        await eventually(
            lambda: _retained_topics(mosquitto, mqtt_topic_root, own), what="both alerts retained"
        )

    # While the worker is down: the broker loses one active alert (restarted without persistence), and
    # holds alerts no engine will resolve: a rule since removed, the rule-wide topic of an older release,
    # and another rules worker's alert, which is not this worker's to judge.
    removed = _stray(mqtt_topic_root, config.worker_id, "banjir-lama", "wl-radar")
    rule_wide = (
        f"{mqtt_topic_root}/alerts/ampal-mufakat/muka-air",
        _stray(mqtt_topic_root, config.worker_id, "x")[1],
    )
    theirs = _stray(mqtt_topic_root, "backend-9", "gateway-offline")
    lost = f"{mqtt_topic_root}/alerts/ampal-mufakat/muka-air/wl-radar/level"
    await _retain(mosquitto, dict([removed, rule_wide, theirs, (lost, b"")]))

    async with rules_worker(config, sqlite_storage) as worker:
        assert _firing(worker) == both  # restored from the rules state
        await eventually(
            lambda: _retained_topics(mosquitto, mqtt_topic_root, {*own, theirs[0]}),
            what="the broker retaining the active alerts and the other worker's, nothing else",
        )
        retained = await _retained_alerts(mosquitto, mqtt_topic_root)
        assert {m.alert_id for t, m in retained.items() if t in own} == both

        # Lost again while the worker runs: the next check (every second here) puts it back.
        await _retain(mosquitto, {lost: b""})
        await eventually(
            lambda: _retained_topics(mosquitto, mqtt_topic_root, {*own, theirs[0]}),
            what="the lost alert retained again by the periodic check",
        )
        assert worker.rules is not None
        assert worker.rules.dispatcher.retained_fixed_total >= 4  # 1 + 2 cleared at start, 1 + 1 republished


async def _retained_topics(broker: Mosquitto, prefix: str, expected: set[str]) -> bool:
    return set(await retained_under(broker.host, broker.port, f"{prefix}/alerts")) == expected
