"""Spoofed data where the broker's ACL is missing or wrong (issue 16, defect 4): a message for a site or
device the site inventory does not list, or claiming a gateway that is not the site's, is dead-lettered
with its reason and payload by ingest and ignored by the rules service; everything the inventory vouches
for is stored as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.config import BackendConfig
from backend.ingest.intake import Accepted, triage
from backend.ingest.senders import GATEWAY_MISMATCH, UNKNOWN_DEVICE, UNKNOWN_SITE, SenderCheck
from backend.ingest.spool import DeadLetter
from backend.inventory import DeviceInfo, SiteInfo, SiteInventory
from backend.storage.model import ALL_TAGS, SeriesQuery, Storage
from pantau.contract import GatewayStatus, Message, Reading, Readings, Topics, encode
from pantau.contract.examples import example_messages
from tests.backend.rules_service.test_worker_alerts import RULES  # Waspada 1.5 m, Siaga 2.0 m
from tests.harness.alerts import SITES, listening, rules_config, rules_worker
from tests.harness.backend import GatewayFactory, eventually, topic_for
from tests.harness.mosquitto import Mosquitto

TOPICS = Topics()
RIVER, RIVER_GATEWAY = "ampal-mufakat", "gw-ampal-mufakat"
ROAD, ROAD_GATEWAY = "soekarno-hatta-km13", "gw-sh-km13"
T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
ARRIVAL = (T0 + timedelta(days=1)).timestamp()


def poll(site: str, gateway: str, device: str, seq: int, at: datetime, level: float) -> Readings:
    return Readings(
        site=site,
        gateway=gateway,
        seq=seq,
        ts=at,
        device=device,
        channels={"level": Reading(value=level, unit="m")},
    )


@pytest.fixture(scope="module")
def senders() -> SenderCheck:
    return SenderCheck(SiteInventory.load(SITES))


def _with(kind: str, **update: object) -> Message:
    return example_messages()[kind].model_copy(update=update)


@pytest.mark.parametrize(
    ("message", "reason", "detail"),
    [
        pytest.param(
            poll(ROAD, RIVER_GATEWAY, "wim-1", 1, T0, 1.0),
            GATEWAY_MISMATCH,
            "site 'soekarno-hatta-km13' is served by gateway 'gw-sh-km13', but the message says gateway "
            "'gw-ampal-mufakat'",
            id="site-B-claiming-gateway-A",
        ),
        pytest.param(
            poll("kampung-palsu", "gw-kampung-palsu", "wl-radar", 1, T0, 1.0),
            UNKNOWN_SITE,
            "site 'kampung-palsu' is in no site file of the inventory",
            id="site-in-no-inventory",
        ),
        pytest.param(
            poll(RIVER, RIVER_GATEWAY, "wl-ghost", 1, T0, 1.0),
            UNKNOWN_DEVICE,
            "site 'ampal-mufakat' has no device 'wl-ghost' in its site file",
            id="device-not-in-the-site-file",
        ),
        pytest.param(
            GatewayStatus(site=RIVER, gateway=ROAD_GATEWAY, seq=1, ts=T0, state="offline"),
            GATEWAY_MISMATCH,
            "site 'ampal-mufakat' is served by gateway 'gw-ampal-mufakat', but the message says gateway "
            "'gw-sh-km13'",
            id="a-false-last-will",
        ),
        pytest.param(
            # A spoofed reject sample is spoofed, not the field's record stream refusing a frame.
            _with("record_reject", gateway=RIVER_GATEWAY),
            GATEWAY_MISMATCH,
            "site 'soekarno-hatta-km13' is served by gateway 'gw-sh-km13', but the message says gateway "
            "'gw-ampal-mufakat'",
            id="record-reject-claiming-another-gateway",
        ),
        pytest.param(
            _with("device_status", device="rain-9"),
            UNKNOWN_DEVICE,
            "site 'ampal-mufakat' has no device 'rain-9' in its site file",
            id="device-status-of-an-unknown-device",
        ),
    ],
)
def test_a_message_the_inventory_does_not_vouch_for_is_a_dead_letter_with_payload(
    senders: SenderCheck, message: Message, reason: str, detail: str
) -> None:
    payload = encode(message)
    topic = topic_for(TOPICS, message)
    outcome = triage(topic, payload, TOPICS, ARRIVAL, senders=senders)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.reason, outcome.detail, outcome.topic) == (reason, detail, topic)
    assert (outcome.payload, outcome.size) == (payload, len(payload))


@pytest.mark.parametrize(
    "message",
    [
        poll(RIVER, RIVER_GATEWAY, "wl-radar", 1, T0, 1.0),
        poll(RIVER, RIVER_GATEWAY, "rain", 2, T0, 0.0),
        GatewayStatus(site=ROAD, gateway=ROAD_GATEWAY, seq=1, ts=T0, state="online"),
        _with("vehicle"),
        _with("device_status", device="wl-pressure"),
    ],
    ids=["readings", "rain-gauge", "gateway-status", "vehicle", "device-status"],
)
def test_what_the_inventory_lists_is_accepted(senders: SenderCheck, message: Message) -> None:
    outcome = triage(topic_for(TOPICS, message), encode(message), TOPICS, ARRIVAL, senders=senders)
    assert isinstance(outcome, Accepted)


def test_a_device_listed_but_disabled_is_accepted() -> None:
    """Enabled in the field before the backend's copy of the site file says so: its data is the site's."""
    spare = DeviceInfo(
        "wl-spare", "vegapuls-c21", "modbus", None, enabled=False, poll_interval_s=60.0, channels=()
    )
    site = SiteInfo(
        RIVER,
        "Ampal",
        "river_gauge",
        lat=-1.2,
        lon=116.8,
        elevation_m=None,
        road_class=None,
        gateway=RIVER_GATEWAY,
        tags=frozenset(),
        devices=(spare,),
    )
    message = poll(RIVER, RIVER_GATEWAY, "wl-spare", 1, T0, 1.0)
    assert SenderCheck(SiteInventory([site])).refuse(message) is None


def test_the_record_reject_of_a_known_device_stays_a_record_reject(senders: SenderCheck) -> None:
    message = _with("record_reject")
    outcome = triage(topic_for(TOPICS, message), encode(message), TOPICS, ARRIVAL, senders=senders)
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "record_reject"


def test_the_check_is_on_by_default_once_the_backend_has_an_inventory() -> None:
    inventory = SiteInventory.load(SITES)
    with_sites = BackendConfig.model_validate({"sites": str(SITES)})
    assert isinstance(SenderCheck.for_backend(with_sites, inventory), SenderCheck)
    # Without site files there is nothing to check against (a demo broker, a test): stored as before.
    assert SenderCheck.for_backend(BackendConfig(), SiteInventory([])) is None
    switched_off = BackendConfig.model_validate({"sites": str(SITES), "inventory_check": False})
    assert SenderCheck.for_backend(switched_off, inventory) is None


async def test_spoofed_data_on_an_open_broker_is_dead_lettered_and_never_alerts(
    mosquitto: Mosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    storage: Storage,
    gateway: GatewayFactory,
) -> None:
    """The session's broker is open (anonymous, no ACL). Through the real gateway publisher: site A's gauge
    at 3.0 m claiming site B's gateway (Siaga, were it believed), a site in no inventory and a device not in
    the site file; then the real gauge at 1.6 m (Waspada). Only the real gauge is stored and alerts."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    spoofed: list[Message] = [
        poll(RIVER, ROAD_GATEWAY, "wl-radar", 100 + i, start + timedelta(minutes=i), 3.0) for i in range(6)
    ]
    spoofed += [poll("kampung-palsu", RIVER_GATEWAY, "wl-radar", 200 + i, start, 2.5) for i in range(2)]
    spoofed += [poll(RIVER, RIVER_GATEWAY, "wl-ghost", 300, start, 2.5)]
    real = [
        poll(RIVER, RIVER_GATEWAY, "wl-radar", 1 + i, start + timedelta(minutes=10 + i), 1.6)
        for i in range(6)
    ]
    config = rules_config(mosquitto, mqtt_topic_root, tmp_path, RULES)
    async with (
        listening(mosquitto, mqtt_topic_root) as alerts,
        rules_worker(config, storage) as worker,
        gateway() as gw,
    ):
        await gw.send([*spoofed, *real])
        await eventually(
            lambda: [t for t in alerts.of("muka-air") if t.state == "firing"], what="the real gauge firing"
        )

        async def stored() -> list[tuple[str, str, object]]:
            window = (start - timedelta(days=1), datetime.now(UTC))
            found = await storage.query(SeriesQuery("reading", ("value",), *window, group_by=ALL_TAGS))
            return sorted(
                (series.tags["site"], series.tags["device"], row.values["value"])
                for series in found
                for row in series.rows
            )

        await eventually(lambda: _at_least(stored, len(real)), what="the real gauge's readings stored")
        assert await stored() == [(RIVER, "wl-radar", 1.6)] * len(real)
        # The spoofed 3.0 m came first and would have fired Siaga; the rules service ignored it like ingest.
        firing = [t for t in alerts.of("muka-air") if t.state == "firing"]
        assert {t.level for t in firing} == {"Waspada"}, alerts.story("muka-air")
        await eventually(
            lambda: worker.spool.state().deadletters == len(spoofed),
            what="every spoofed message dead-lettered",
        )
        dead = worker.spool.deadletters(limit=100)
        assert sorted((d.topic, d.reason, d.payload) for d in dead) == sorted(
            (topic_for(gw.topics, m), _reason(m), encode(m)) for m in spoofed
        )
        assert worker.pipeline.stats.dead == {GATEWAY_MISMATCH: 6, UNKNOWN_SITE: 2, UNKNOWN_DEVICE: 1}


async def _at_least(rows: object, wanted: int) -> bool:
    assert callable(rows)
    return len(await rows()) >= wanted


def _reason(message: Message) -> str:
    if message.site != RIVER:
        return UNKNOWN_SITE
    return GATEWAY_MISMATCH if getattr(message, "gateway", None) == ROAD_GATEWAY else UNKNOWN_DEVICE
