"""One retained message per active alert: a rule that watches two water-level channels raises two alerts,
and a subscriber that connects late is handed both (it was handed one of them when the topic was the
rule's); an alert that resolves leaves nothing retained behind. Real worker, rules service and Mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from backend.storage.sqlite import SqliteStorage
from backend.worker import BackendWorker
from pantau.contract import AlertTransition, Reading, Readings, Topics, decode
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
