"""Issue 16, defect 1: on the shipped broker one credential cannot take another's session.

With the shipped mosquitto.conf and acl as they were, a gateway's user could connect with the client id
`pantau-backend-1` (clean start off): the broker handed it the backend's persistent session with the
readings queued for it and kicked the live backend off; the backend came back to 0 of 5 readings. The same
held for the rules worker's id. The broker now replaces every client id with the user's name
(`use_username_as_clientid`), so a session belongs to exactly one user.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest
import yaml
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.config import BackendConfig
from backend.ingest.subscriber import Incoming, Subscriber, Subscription
from backend.rules_service.dispatch import AlertPublisher
from pantau.contract import AlertTransition
from tests.deploy.compose import DEPLOY
from tests.deploy.shipped_broker import USERS, ShippedMosquitto, make_secrets, passwd_path
from tests.harness.binaries import require_binary
from tests.harness.process import start_with_port_retries

pytestmark = pytest.mark.services  # make-secrets.sh and mosquitto in child processes

SITE_TOPIC = "pantau/v1/ampal-mufakat/wl-radar/readings"
GATEWAY = "gw-ampal-mufakat"


@pytest.fixture
def passwords(tmp_path: Path) -> dict[str, str]:
    env, _key = make_secrets(tmp_path)
    return {user: env[variable] for user, variable in USERS.items()}


@pytest.fixture
def broker(passwords: dict[str, str], tmp_path: Path) -> Iterator[ShippedMosquitto]:
    service = ShippedMosquitto(
        tmp_path / "broker", require_binary("mosquitto", "mosquitto"), passwd_path(tmp_path)
    )
    start_with_port_retries(service)
    yield service
    service.stop()


@contextlib.asynccontextmanager
async def session(
    broker: ShippedMosquitto, user: str, password: str, client_id: str
) -> AsyncIterator[aiomqtt.Client]:
    """A persistent MQTT v5 session, as the backend's subscribers open theirs (clean start off, a day)."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 86_400
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=client_id,
        username=user,
        password=password,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=properties,
        timeout=10,
    ) as client:
        yield client


async def receive(client: aiomqtt.Client, count: int, topic: str) -> list[bytes]:
    """The payloads of the next `count` messages on `topic` (others skipped); 10 s at most."""
    got: list[bytes] = []
    async with asyncio.timeout(10):
        async for message in client.messages:
            if str(message.topic) == topic:
                got.append(bytes(message.payload))  # type: ignore[arg-type]
                if len(got) == count:
                    return got
    return got


@pytest.mark.parametrize(
    ("user", "client_id"),
    [("backend", "pantau-backend-1"), ("backend-rules", "pantau-backend-1-rules")],
    ids=["ingest", "rules"],
)
async def test_a_gateway_cannot_take_over_a_backend_session(
    broker: ShippedMosquitto, passwords: dict[str, str], user: str, client_id: str
) -> None:
    async with session(broker, user, passwords[user], client_id) as backend:
        await backend.subscribe("pantau/v1/#", qos=1)
    # The backend is away; five readings are queued for its session.
    async with session(broker, GATEWAY, passwords[GATEWAY], GATEWAY) as gateway:
        for n in range(5):
            await gateway.publish(SITE_TOPIC, f"reading {n}".encode(), qos=1)
    async with session(broker, GATEWAY, passwords[GATEWAY], client_id) as intruder:
        # The broker sends a session's queued messages right after CONNACK, before it reads the client's
        # next packet: once this PUBACK is back, anything the intruder was handed has arrived (and paho
        # has acknowledged it).
        await intruder.publish("pantau/v1/ampal-mufakat/probe/status", b"probe", qos=1)
        assert len(intruder.messages) == 0, "the gateway's user was handed the backend's queue"

    async with session(broker, user, passwords[user], client_id) as backend:
        expected = [f"reading {n}".encode() for n in range(5)]
        assert await receive(backend, 5, SITE_TOPIC) == expected
        # While the backend is connected, the gateway's user logging in under its id neither kicks it off
        # nor reads its stream: the next reading reaches the backend on the same connection.
        async with session(broker, GATEWAY, passwords[GATEWAY], client_id) as intruder:
            await intruder.publish(SITE_TOPIC, b"reading 5", qos=1)
            assert await receive(backend, 1, SITE_TOPIC) == [b"reading 5"]
            assert len(intruder.messages) == 0


def backend_config(broker: ShippedMosquitto) -> BackendConfig:
    """The compose stack's backend.yaml, pointed at this broker."""
    document = yaml.safe_load((DEPLOY / "backend.yaml").read_text())
    mqtt = document["mqtt"] | {"host": broker.host, "port": broker.port, "reconnect_cap": "1s"}
    return BackendConfig.model_validate({"worker_id": document["worker_id"], "mqtt": mqtt})


def collector(into: list[bytes]) -> Callable[[Sequence[Incoming]], Awaitable[None]]:
    async def handle(batch: Sequence[Incoming]) -> None:
        into.extend(message.payload for message in batch)

    return handle


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.02)  # polling a condition under a deadline, not waiting for time
    except TimeoutError:
        raise AssertionError(f"not within 10 s: {what}") from None


async def test_the_backends_three_connections_work_side_by_side(
    broker: ShippedMosquitto, passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose backend's ingest and rules subscriptions and its alert publisher, each under its own user:
    neither subscription kicks the other off, and the publisher may write alerts."""
    monkeypatch.setenv("PANTAU_MQTT_PASSWORD", passwords["backend"])
    config = backend_config(broker)
    ingested: list[bytes] = []
    judged: list[bytes] = []
    ingest = Subscriber(Subscription.ingest(config), collector(ingested))
    rules = Subscriber(
        Subscription(config.rules_mqtt, config.rules_client_id, None, 100, 0.005), collector(judged)
    )
    tasks = [asyncio.create_task(s.run(), name=f"subscriber[{n}]") for n, s in enumerate((ingest, rules))]
    try:
        await until(lambda: ingest.subscribed.is_set() and rules.subscribed.is_set(), "both subscribed")
        async with (
            session(broker, GATEWAY, passwords[GATEWAY], GATEWAY) as gateway,
            session(broker, "viewer", passwords["viewer"], "viewer") as viewer,
        ):
            await viewer.subscribe("pantau/v1/alerts/#", qos=1)
            for n in range(3):
                await gateway.publish(SITE_TOPIC, f"reading {n}".encode(), qos=1)
            expected = [f"reading {n}".encode() for n in range(3)]
            await until(lambda: ingested == expected and judged == expected, "both read every reading")
            assert (ingest.stats.connects_total, rules.stats.connects_total) == (1, 1), (
                "no one was kicked off"
            )

            alert = AlertTransition(
                site="ampal-mufakat", source="backend-1", seq=1, ts=datetime(2026, 12, 1, tzinfo=UTC),
                alert_id="flood-level:ampal-mufakat:wl-radar:level", rule="flood-level", device="wl-radar",
                channel="level", state="firing", level="Siaga II", severity=2, value=2.35, threshold=2.2,
                unit="m", message="Sungai Ampal di Mufakat SIAGA II: 2.35 m",
                started_at=datetime(2026, 12, 1, tzinfo=UTC),
            )  # fmt: skip
            await AlertPublisher(config.alerts_mqtt, f"{config.rules_client_id}-alerts").publish([alert])
            topic = "pantau/v1/alerts/ampal-mufakat/flood-level/wl-radar/level"
            (published,) = await receive(viewer, 1, topic)
            assert b"SIAGA II" in published
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
