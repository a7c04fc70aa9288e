"""Per-gateway client certificates on the shipped broker config (its TLS listener block with
`require_certificate` and `use_identity_as_username`, the shipped ACL, `use_username_as_clientid`): a
gateway's identity is its certificate's common name, and the ACL and the client id bind to it as they do
to a password user. The backend logs in with its password on the plain listener, as in the compose stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from backend.storage.model import Retention
from backend.storage.sqlite import SqliteStorage
from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.config.mqtt import MqttConnection
from pantau.mqtt import PubackWaiter, connected
from pantau.site.config import MqttConfig
from tests.harness.backend import Gateway, backend_config, eventually, opened, readings, running
from tests.harness.binaries import require_binary
from tests.harness.mosquitto_tls import REPO, SERVER_NAME, KeyPair, Pki, TlsMosquitto
from tests.harness.process import start_with_port_retries
from tests.mqtt_tls.readings import queue_readings, stored_seqs

pytestmark = pytest.mark.services  # Mosquitto with the shipped TLS listener

PREFIX = "pantau/v1"  # the shipped ACL's
SITE, GATEWAY = "ampal-mufakat", "gw-ampal-mufakat"  # a gateway of the shipped ACL
OTHER_SITE = "soekarno-hatta-km13"  # gw-sh-km13's
BACKEND_PASSWORD = "backend-password"  # a test broker's, on loopback
GATEWAY_PASSWORD = "gateway-password"  # gw-sh-km13's, which logs in with a password
NOT_AUTHORIZED = 0x87


@pytest.fixture
def broker(pki: Pki, tmp_path: Path) -> Iterator[TlsMosquitto]:
    """The shipped config with client certificates; a broker per test (the backend's session is `backend`)."""
    passwd = tmp_path / "passwd"
    binary = require_binary("mosquitto_passwd", "mosquitto")
    for user, password, create in (
        ("backend", BACKEND_PASSWORD, ["-c"]),
        ("gw-sh-km13", GATEWAY_PASSWORD, []),
    ):
        subprocess.run([binary, "-b", *create, str(passwd), user, password], check=True, timeout=30)
    broker = TlsMosquitto(
        tmp_path / "broker",
        pki,
        passwd=passwd,
        acl=Path(shutil.copy(REPO / "backend/deploy/mosquitto/acl", tmp_path / "acl")),
        client_certificates=True,
    )
    start_with_port_retries(broker)
    yield broker
    broker.stop()


@pytest.fixture
def gateway_certificate(pki: Pki) -> KeyPair:
    return pki.client(GATEWAY)


def gateway_mqtt(broker: TlsMosquitto, pki: Pki, pair: KeyPair | None, **more: Any) -> dict[str, Any]:
    """A site file's `mqtt:` for the TLS listener: a certificate instead of a user and password."""
    client = {"certfile": str(pair.cert), "keyfile": str(pair.key)} if pair is not None else {}
    return (
        {
            "host": SERVER_NAME,
            "port": broker.tls_port,
            "tls": True,
            "ca_file": str(pki.ca.cert),
            "topic_prefix": PREFIX,
            "reconnect_cap": "1s",
        }
        | client
        | more
    )


@contextlib.asynccontextmanager
async def publishing(config: MqttConfig, workdir: Path, site: str = SITE) -> AsyncIterator[Gateway]:
    outbox = Outbox(workdir / f"outbox-{site}.db", receipt_window=config.outbox_receipt_window)
    publisher = Publisher(config, outbox, Identity(site, GATEWAY))
    task = asyncio.create_task(publisher.run(), name="gateway-publisher")
    try:
        yield Gateway(outbox, publisher, publisher.topics)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        outbox.close()


def backend_on_plain_listener(broker: TlsMosquitto, workdir: Path) -> Any:
    password_file = workdir / "backend.password"
    password_file.write_text(BACKEND_PASSWORD + "\n")
    mqtt = {"username": "backend", "password_file": str(password_file)}
    return backend_config(broker, PREFIX, workdir, mqtt=mqtt)


@pytest.mark.parametrize("backend_login", ["password-on-plain-listener", "certificate-on-tls-listener"])
async def test_a_gateway_with_its_certificate_publishes_its_site_and_the_backend_stores_it(
    backend_login: str, pki: Pki, broker: TlsMosquitto, gateway_certificate: KeyPair, tmp_path: Path
) -> None:
    config = MqttConfig.model_validate(gateway_mqtt(broker, pki, gateway_certificate))
    assert config.username is None  # no password anywhere: the certificate is the gateway's identity
    if backend_login == "password-on-plain-listener":  # the compose stack's way
        backend = backend_on_plain_listener(broker, tmp_path)
    else:  # a backend on another machine: the same config fields and code path as the gateway's
        backend = backend_config(
            broker, PREFIX, tmp_path, mqtt=gateway_mqtt(broker, pki, pki.client("backend"))
        )
    storage = SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
    async with opened(storage), running(backend, storage), publishing(config, tmp_path) as gateway:
        sent = await queue_readings(gateway, 20)
        await eventually(lambda: _stored(storage, sent), what="the gateway's 20 readings stored")
        await (
            gateway.drained()
        )  # the backend's receipts reached the gateway (the ACL lets `backend` write them)
        assert gateway.publisher.stats.refused_total == 0
    # The broker took each certificate's common name for the user and the client id.
    log = broker.events_path.read_text()
    assert f"as {GATEWAY} (" in log
    assert "as backend (" in log


async def _stored(storage: SqliteStorage, sent: set[int]) -> bool:
    return await stored_seqs(storage) == sent


async def test_a_certificate_for_one_site_cannot_publish_for_another(
    pki: Pki, broker: TlsMosquitto, gateway_certificate: KeyPair
) -> None:
    config = MqttConnection.model_validate(gateway_mqtt(broker, pki, gateway_certificate))

    async def publish(topic: str) -> tuple[int | None, int | None]:
        """The PUBACK reason codes for a message on the gateway's own site, then one on `topic`.
        (Mosquitto 2.0 drops a connection at its second refused publish: one refusal per connection.)"""
        client = aiomqtt.Client(
            config.host,
            config.port,
            identifier=GATEWAY,
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=config.tls_context(),
        )
        async with connected(client):
            acks = PubackWaiter(client)
            codes = [
                await acks.publish(t, b"{}", retain=False, timeout=10)
                for t in (f"{PREFIX}/{SITE}/wl-radar/readings", topic)
            ]
        own, other = (None if code is None else code.value for code in codes)
        return own, other

    assert await publish(f"{PREFIX}/{OTHER_SITE}/wim-1/vehicles") == (None, NOT_AUTHORIZED)
    assert await publish(f"{PREFIX}/alerts/{OTHER_SITE}/overload/wim-1") == (None, NOT_AUTHORIZED)


async def test_a_lost_gateway_is_shut_out_by_deleting_its_acl_section(
    pki: Pki, broker: TlsMosquitto, gateway_certificate: KeyPair
) -> None:
    # SECURITY.md's answer to a stolen box: its certificate stays valid, its user may do nothing.
    config = MqttConnection.model_validate(gateway_mqtt(broker, pki, gateway_certificate))

    async def own_site_accepted() -> bool:
        client = aiomqtt.Client(
            config.host, config.port, identifier=GATEWAY, protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=config.tls_context(),
        )  # fmt: skip
        async with connected(client):
            code = await PubackWaiter(client).publish(
                f"{PREFIX}/{SITE}/wl-radar/readings", b"{}", retain=False, timeout=10
            )
        return code is None

    assert await own_site_accepted()
    assert broker.acl is not None
    acl = broker.acl.read_text()
    section = re.compile(rf"^user {GATEWAY}\n(topic .*\n)+", re.MULTILINE)
    assert section.search(acl)
    broker.acl.write_text(section.sub("", acl))
    broker.reload()
    async with asyncio.timeout(10):  # Mosquitto applies a reloaded ACL on its next loop turn
        while await own_site_accepted():
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("certificate", ["none", "from-another-ca"])
async def test_a_gateway_without_a_trusted_certificate_is_refused_saying_so(
    certificate: str, pki: Pki, broker: TlsMosquitto, tmp_path: Path
) -> None:
    pair = Pki(tmp_path / "rogue", "rogue CA").client(GATEWAY) if certificate == "from-another-ca" else None
    config = MqttConfig.model_validate(gateway_mqtt(broker, pki, pair))
    async with publishing(config, tmp_path) as gateway:
        await gateway.send([readings(1)])
        # Refused at once, not after the connect timeout (10 s) as "Operation timed out".
        await eventually(
            lambda: gateway.publisher.stats.connect_failures_total >= 1, timeout=5, what="a refused connect"
        )
        assert gateway.publisher.stats.connects_total == 0
        assert gateway.outbox.state().depth == 1  # the reading stays queued
    alert = "TLSV13_ALERT_CERTIFICATE_REQUIRED" if pair is None else "TLSV1_ALERT_UNKNOWN_CA"
    error = str(gateway.publisher.stats.last_error)
    assert f"broker {SERVER_NAME}:{broker.tls_port} closed the connection before accepting it: " in error
    assert alert in error
    assert "check mqtt.certfile and mqtt.keyfile" in error


@pytest.mark.parametrize("listener", ["tls", "plain"])
async def test_a_gateway_cannot_take_over_the_backends_session(
    listener: str, pki: Pki, broker: TlsMosquitto, gateway_certificate: KeyPair, tmp_path: Path
) -> None:
    # Through the TLS listener with its certificate, or through the plain one with a password: Mosquitto
    # 2.0 binds client ids only on the listener above `use_username_as_clientid`, so switching the TLS
    # block on had left the plain listener without (the shipped config has a line per listener now).
    config = MqttConnection.model_validate(gateway_mqtt(broker, pki, gateway_certificate))
    if listener == "tls":
        login: dict[str, Any] = {
            "hostname": config.host,
            "port": config.port,
            "tls_context": config.tls_context(),
        }
        intruder_user = GATEWAY
    else:
        login = {
            "hostname": broker.host,
            "port": broker.port,
            "username": "gw-sh-km13",
            "password": GATEWAY_PASSWORD,
        }
        intruder_user = "gw-sh-km13"
    storage = SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
    async with opened(storage), running(backend_on_plain_listener(broker, tmp_path), storage) as worker:
        intruder = aiomqtt.Client(
            identifier="backend",  # the backend's client id (its user name)
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            **login,
        )
        async with connected(intruder):
            await asyncio.sleep(0.5)  # a takeover would have kicked the backend off by now
            assert worker.subscriber.stats.connected
            assert worker.subscriber.stats.connects_total == 1
    assert f"as {intruder_user} (" in broker.events_path.read_text()
