"""The rules engine on the live stream, end to end: the real gateway publisher -> Mosquitto -> a backend
worker with `rules:` -> InfluxDB (alert history, QC and ODOL fields) and retained alert topics.

Data timers (pending, hold, windows) run on the readings' own timestamps, so a four-hour storm is
published in seconds; `stale` runs on the wall clock, with a short `after`.
"""

from __future__ import annotations

import asyncio
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from backend.config import BackendConfig
from backend.inventory import SiteInventory
from backend.rules import RuleEngine, load_rules
from backend.rules_service.replay import replay
from backend.storage.influx import InfluxStorage
from backend.storage.model import SeriesQuery
from backend.storage.schema import ALERT, READING, VEHICLE
from pantau.contract import Axle, Reading, Readings, Tyres, Vehicle
from tests.harness.alerts import SITES, AlertListener, rules_config, rules_worker
from tests.harness.backend import GatewayFactory, eventually
from tests.harness.mosquitto import Mosquitto

WIM_SITE = "soekarno-hatta-km13"
WIM_GATEWAY = "gw-sh-km13"  # the site file's gateway: ingest refuses any other (backend/ingest/senders.py)

RULES = """
language: en
rules:
  - id: muka-air
    kind: levels
    select: {site: ampal-mufakat, device: wl-radar, channel: level}
    unit: m
    pending: 2m
    hold: 10m
    levels:
      - {name: Waspada, trigger: 1.5, clear: 1.4, severity: 2}
      - {name: Siaga, trigger: 2.0, clear: 1.9, severity: 4}
      - {name: Awas, trigger: 2.5, clear: 2.4, severity: 6}
  - id: qc-muka-air
    kind: qc
    select: {site: ampal-mufakat, device: wl-radar, channel: level}
    gross_range: {fail: {min: 0, max: 8}}
  - id: odol
    kind: odol
    select: {site: soekarno-hatta-km13, device: wim-1}
    tolerance_pct: 5
    bands:
      - {name: pelanggaran, above_pct: 5, severity: 3}
      - {name: sanksi-tol, above_pct: 50, severity: 5}
      - {name: turun-muatan, above_pct: 100, severity: 7}
    alert_window: 1h
    alert_min_band: turun-muatan
    levels:
      - {name: Harus turun muatan, trigger: 1, severity: 5}
  - id: wl-sunyi
    kind: stale
    select: {site: ampal-mufakat, device: wl-pressure}
    after: 3s
"""


def config_for(mosquitto: Mosquitto, prefix: str, tmp_path: Path) -> BackendConfig:
    return rules_config(mosquitto, prefix, tmp_path, RULES)


def hydrograph(start: datetime) -> list[Readings]:
    """Four hours at one reading a minute: 1.0 m, up to 2.8 m at two hours, back to 1.0 m; +-3 cm noise,
    so the signal dithers around every trigger and clear on both limbs."""
    rng = random.Random(6)  # noqa: S311 - test noise, not cryptography
    out = []
    for minute in range(240):
        level = 1.0 + 1.8 * math.sin(math.pi * minute / 240) ** 2 + rng.uniform(-0.03, 0.03)
        out.append(
            Readings(
                site="ampal-mufakat",
                gateway="gw-ampal-mufakat",
                seq=minute + 1,
                ts=start + timedelta(minutes=minute),
                device="wl-radar",
                channels={"level": Reading(value=round(level, 3), unit="m")},
            )
        )
    return out


async def test_storm_hydrograph_escalates_once_per_level_and_clears_once(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influx_storage: InfluxStorage,
    gateway: GatewayFactory,
    alerts: AlertListener,
) -> None:
    storm = hydrograph(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5))
    async with (
        rules_worker(config_for(mosquitto, mqtt_topic_root, tmp_path), influx_storage),
        gateway() as gw,
    ):
        await gw.send(storm)
        # Every reading evaluated (QC is stored with each reading's other effects), so a flap after the
        # clear would have happened by now; then its transitions published as well as stored.
        await eventually(lambda: _count_qc(influx_storage, storm), what="every reading evaluated")
        await eventually(
            lambda: any(t.state == "resolved" for t in alerts.of("muka-air")), what="the alert to clear"
        )
        await eventually(
            lambda: _history_published(influx_storage, alerts, storm[0].ts), what="the history published"
        )

    story = [(t.state, t.level) for t in alerts.of("muka-air")]
    escalations = [
        t.level
        for t in alerts.of("muka-air")
        if t.state == "firing" and (t.previous_state != "firing" or t.severity > _severity(t.previous_level))
    ]
    assert escalations == ["Waspada", "Siaga", "Awas"], story
    assert [s for s, _ in story].count("resolved") == 1, story
    assert story[-1][0] == "resolved", story
    peak = story.index(("firing", "Awas"))
    falling = [_severity(level) for state, level in story[peak:] if state == "firing"]
    assert falling == sorted(falling, reverse=True), f"the falling limb flapped: {story}"
    assert [t.seq for t in alerts.of("muka-air")] == list(range(len(story)))

    # The history is stored too, one point per transition, and every reading carries the backend's QC.
    (history,) = await influx_storage.query(
        SeriesQuery(
            ALERT,
            ("state", "level", "seq"),
            start=storm[0].ts,
            end=datetime.now(UTC),
            tags={"rule": "muka-air"},
        )
    )
    assert [(row.values["state"], row.values.get("level")) for row in history.rows] == story

    async def qc_flags() -> list[Any]:
        found = await influx_storage.query(
            SeriesQuery(READING, ("qc",), start=storm[0].ts, end=storm[-1].ts + timedelta(seconds=1))
        )
        return [row.values["qc"] for series in found for row in series.rows]

    await eventually(lambda: _count(qc_flags, len(storm)), what="a QC verdict on every reading")
    assert set(await qc_flags()) == {1}

    # Replayed from storage, the same rules tell the same story at the same times.
    engine = RuleEngine(load_rules(tmp_path / "rules.yaml"), SiteInventory.load(SITES), "replay")
    replayed = await replay(
        engine, influx_storage, storm[0].ts, storm[-1].ts + timedelta(minutes=30), timedelta(seconds=30)
    )
    assert replayed.messages == len(storm)
    assert not replayed.skipped
    assert [(t.state, t.level, t.ts) for t in replayed.transitions if t.rule == "muka-air"] == [
        (t.state, t.level, t.ts) for t in alerts.of("muka-air")
    ]


async def test_a_restart_mid_storm_neither_repeats_nor_forgets(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influx_storage: InfluxStorage,
    gateway: GatewayFactory,
    alerts: AlertListener,
) -> None:
    """Stopped while Siaga fires and restarted: the state file carries the alert on (same seq numbering,
    no second Waspada/Siaga), and the data the broker queued meanwhile is evaluated."""
    storm = hydrograph(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5))
    config = config_for(mosquitto, mqtt_topic_root, tmp_path)
    async with gateway() as gw:
        async with rules_worker(config, influx_storage):
            await gw.send(storm[:90])
            await eventually(lambda: ("firing", "Siaga") in _story(alerts), what="Siaga before the restart")
            await eventually(lambda: _count_qc(influx_storage, storm[:90]), what="the first half evaluated")
        await gw.send(storm[90:])  # queued by the broker for the stopped worker's persistent session
        await gw.drained()
        async with rules_worker(config, influx_storage):
            await eventually(lambda: _count_qc(influx_storage, storm), what="every reading evaluated")
            await eventually(lambda: alerts.of("muka-air")[-1].state == "resolved", what="the clear")
            await eventually(
                lambda: _history_published(influx_storage, alerts, storm[0].ts), what="the history published"
            )

    story = _story(alerts)
    assert [level for state, level in story if state == "firing"][:3] == ["Waspada", "Siaga", "Awas"], story
    assert [t.seq for t in alerts.of("muka-air")] == list(range(len(story)))
    # The restart changed nothing: the same rules over the same history, in one go, tell the same story.
    engine = RuleEngine(load_rules(tmp_path / "rules.yaml"), SiteInventory.load(SITES), "replay")
    replayed = await replay(
        engine, influx_storage, storm[0].ts, storm[-1].ts + timedelta(minutes=30), timedelta(seconds=30)
    )
    assert [(t.state, t.level, t.ts) for t in replayed.transitions if t.rule == "muka-air"] == [
        (t.state, t.level, t.ts) for t in alerts.of("muka-air")
    ]


async def _history_published(storage: InfluxStorage, alerts: AlertListener, start: datetime) -> bool:
    """Every stored transition of `muka-air` has reached MQTT too (they are stored, then published)."""
    found = await storage.query(
        SeriesQuery(ALERT, ("state",), start=start, end=datetime.now(UTC), tags={"rule": "muka-air"})
    )
    stored = sum(len(series.rows) for series in found)
    return stored > 0 and stored == len(alerts.of("muka-air"))


def _story(alerts: AlertListener) -> list[tuple[str, str | None]]:
    return [(t.state, t.level) for t in alerts.of("muka-air")]


async def _count_qc(storage: InfluxStorage, sent: list[Readings]) -> bool:
    found = await storage.query(
        SeriesQuery(READING, ("qc",), start=sent[0].ts, end=sent[-1].ts + timedelta(seconds=1))
    )
    return sum(len(series.rows) for series in found) == len(sent)


def _severity(level: str | None) -> int:
    return {None: 0, "Waspada": 2, "Siaga": 4, "Awas": 6}[level]


def truck(seq: int, at: datetime, configuration: str, axles_kg: list[float]) -> Vehicle:
    """A WIM record of `configuration` (JBI notation, e.g. `1-2.2`: single steer, dual tandem)."""
    groups = configuration.split("-")
    tyres = [Tyres.SINGLE if digit == "1" else Tyres.DUAL for group in groups for digit in group.split(".")]
    return Vehicle(
        site=WIM_SITE,
        gateway=WIM_GATEWAY,
        seq=seq,
        ts=at,
        device="wim-1",
        source="wim",
        lane=1,
        gvw_kg=sum(axles_kg),
        axles=[Axle(load_kg=kg, tyres=t) for kg, t in zip(axles_kg, tyres, strict=True)],
        groups=[len(group.split(".")) for group in groups],
    )


#: Road class I (MST 10 t): JBI 16 t for 1-2, 22 t for 1-2.2; 5 % tolerance.
TRUCKS: list[tuple[str, list[float], str, str | None]] = [
    ("1-2", [5500, 9500], "ok", None),  # 15.0 t
    ("1-2", [6500, 10000], "tolerated", None),  # 16.5 t, +3 %
    ("1-2", [7000, 10000], "violation", "pelanggaran"),  # 17.0 t, +6 %
    ("1-2.2", [6000, 9000, 9000], "violation", "pelanggaran"),  # 24.0 t, +9 %
    ("1-2.2", [6000, 15000, 15000], "violation", "sanksi-tol"),  # 36.0 t, +64 %
    ("1-2.2", [7000, 19000, 19000], "violation", "turun-muatan"),  # 45.0 t, +105 %
]


async def test_truck_stream_is_judged_and_stored_with_its_verdicts(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influx_storage: InfluxStorage,
    gateway: GatewayFactory,
    alerts: AlertListener,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    stream = [
        truck(i + 1, start + timedelta(seconds=20 * i), *TRUCKS[i % len(TRUCKS)][:2])
        for i in range(4 * len(TRUCKS))
    ]
    async with (
        rules_worker(config_for(mosquitto, mqtt_topic_root, tmp_path), influx_storage),
        gateway(site=WIM_SITE, gateway_id=WIM_GATEWAY) as gw,
    ):
        await gw.send(stream)

        async def judged() -> list[dict[str, Any]]:
            found = await influx_storage.query(
                SeriesQuery(VEHICLE, ("gvw_kg", "verdict", "band"), start=start, end=datetime.now(UTC))
            )
            rows = [row.values for series in found for row in series.rows]
            return [values for values in rows if values.get("verdict") is not None]

        await eventually(lambda: _count(judged, len(stream)), what="every vehicle stored with its verdict")
        rows = await judged()
        await eventually(lambda: alerts.of("odol"), what="the unload alert")

    expected = [(TRUCKS[i % len(TRUCKS)][2], TRUCKS[i % len(TRUCKS)][3]) for i in range(len(stream))]
    found = sorted(((r["verdict"], r.get("band")) for r in rows), key=str)
    assert found == sorted(expected, key=str), [(r["gvw_kg"], r["verdict"]) for r in sorted(rows, key=str)]
    assert sum(r["verdict"] == "violation" for r in rows) == 16
    (firing,) = [t for t in alerts.of("odol") if t.state == "firing"]
    assert firing.level == "Harus turun muatan"


async def _count(rows: Any, wanted: int) -> bool:
    return len(await rows()) == wanted


async def test_a_stopped_gauge_raises_stale_within_its_duration(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    influx_storage: InfluxStorage,
    gateway: GatewayFactory,
    alerts: AlertListener,
) -> None:
    async with (
        rules_worker(config_for(mosquitto, mqtt_topic_root, tmp_path), influx_storage),
        gateway() as gw,
    ):
        for seq in range(1, 4):
            last = datetime.now(UTC)
            await gw.send([_pressure(seq, last)])
            await asyncio.sleep(0.5)
        assert not alerts.of("wl-sunyi"), "stale fired while the gauge was still reporting"
        await eventually(lambda: alerts.of("wl-sunyi"), timeout=15, what="stale alert")
    (fired, *_) = alerts.of("wl-sunyi")
    assert (fired.state, fired.device) == ("firing", "wl-pressure")
    assert fired.ts >= last + timedelta(seconds=3), "stale before its duration had passed"


def _pressure(seq: int, at: datetime) -> Readings:
    return Readings(
        site="ampal-mufakat",
        gateway="gw-ampal-mufakat",
        seq=seq,
        ts=at,
        device="wl-pressure",
        channels={"level": Reading(value=1.2, unit="m")},
    )
