"""What TLS refuses: a broker certificate from another CA or for another name (the gateway and the backend
say which broker and why, and keep retrying), and TLS 1.0 and 1.1 on either side (the shipped listener
refuses an old client; pantau refuses a server that offers nothing newer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from backend.config import BackendMqtt
from backend.rules_service.dispatch import AlertPublisher
from backend.storage.model import Retention
from backend.storage.sqlite import SqliteStorage
from backend.worker import BackendWorker
from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.contract import AlertTransition
from pantau.contract.examples import example_messages
from pantau.site.config import MqttConfig
from tests.harness.backend import GATEWAY, SITE, Gateway, backend_config, eventually, opened, readings
from tests.harness.mosquitto_tls import SERVER_NAME, Pki, TlsMosquitto, TlsTerminator
from tests.harness.process import start_with_port_retries

pytestmark = pytest.mark.services  # Mosquitto with a TLS listener, socat

#: (host to connect to, which CA to trust, what the error must say)
REFUSALS = {
    "another-ca": (
        SERVER_NAME,
        "rogue",
        "certificate is not accepted: unable to get local issuer certificate",
    ),
    "another-name": (
        "127.0.0.1",
        "ours",
        "certificate is not accepted: IP address mismatch, certificate is not valid for '127.0.0.1'",
    ),
}


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("rogue-pki"), "rogue CA")


def tls_settings(broker: TlsMosquitto, refusal: str, pki: Pki, rogue: Pki, prefix: str) -> dict[str, Any]:
    host, trusted, _ = REFUSALS[refusal]
    ca = pki.ca.cert if trusted == "ours" else rogue.ca.cert
    return {"host": host, "port": broker.tls_port, "tls": True, "ca_file": str(ca), "topic_prefix": prefix}


def refusal_text(broker: TlsMosquitto, refusal: str) -> str:
    host, _, reason = REFUSALS[refusal]
    return f"TLS with broker {host}:{broker.tls_port} failed: its {reason}"


@pytest.mark.parametrize("refusal", REFUSALS)
async def test_the_gateway_names_the_broker_and_the_reason_when_its_certificate_is_refused(
    refusal: str,
    pki: Pki,
    rogue: Pki,
    tls_broker: TlsMosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = MqttConfig.model_validate(
        tls_settings(tls_broker, refusal, pki, rogue, mqtt_topic_root) | {"reconnect_cap": "1s"}
    )
    outbox = Outbox(tmp_path / "outbox.db", receipt_window=config.outbox_receipt_window)
    publisher = Publisher(config, outbox, Identity(SITE, GATEWAY))
    async with _running(publisher.run()):
        await Gateway(outbox, publisher, publisher.topics).send([readings(1)])
        await eventually(lambda: publisher.stats.connect_failures_total >= 2, what="two connect attempts")
    outbox.close()
    expected = refusal_text(tls_broker, refusal)
    assert expected in str(publisher.stats.last_error)
    down = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "down" in r.getMessage()
    ]
    assert down == [
        f"broker {config.host}:{config.port} down: {publisher.stats.last_error} (the outbox keeps everything)"
    ]
    assert publisher.stats.connected is False


@pytest.mark.parametrize("refusal", REFUSALS)
async def test_the_backend_names_the_broker_and_the_reason_when_its_certificate_is_refused(
    refusal: str,
    pki: Pki,
    rogue: Pki,
    tls_broker: TlsMosquitto,
    mqtt_topic_root: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mqtt = tls_settings(tls_broker, refusal, pki, rogue, mqtt_topic_root)
    config = backend_config(tls_broker, mqtt_topic_root, tmp_path, mqtt=mqtt)
    storage = SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
    async with opened(storage):
        worker = BackendWorker(config, storage)
        async with _running(worker.run()):
            await eventually(
                lambda: worker.subscriber.stats.connect_failures_total >= 2, what="two connect attempts"
            )
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(refusal_text(tls_broker, refusal) in m for m in messages), messages
    assert worker.subscriber.stats.received_total == 0


async def test_the_alert_publisher_names_the_broker_and_the_reason_too(
    pki: Pki, rogue: Pki, tls_broker: TlsMosquitto, mqtt_topic_root: str
) -> None:
    mqtt = BackendMqtt.model_validate(tls_settings(tls_broker, "another-ca", pki, rogue, mqtt_topic_root))
    alert = example_messages()["alert"]
    assert isinstance(alert, AlertTransition)
    with pytest.raises(aiomqtt.MqttError, match=re.escape(refusal_text(tls_broker, "another-ca"))):
        await AlertPublisher(mqtt, "backend-alerts").publish([alert])


def test_the_shipped_tls_listener_refuses_tls_1_0_and_1_1(pki: Pki, tls_broker: TlsMosquitto) -> None:
    context = old_tls_context()
    context.load_verify_locations(pki.ca.cert)
    with (
        socket.create_connection((tls_broker.host, tls_broker.tls_port), timeout=10) as raw,
        pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"),
    ):
        context.wrap_socket(raw, server_hostname=SERVER_NAME).close()
    # The same client gets through where TLS 1.1 is offered (the proxy below): the refusal is the version's.


@pytest.fixture(scope="module")
def tls_1_1_server(
    pki: Pki, tls_broker: TlsMosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsTerminator]:
    """A TLS server offering TLS 1.0 and 1.1 only (socat in front of the broker's plain listener)."""
    server = TlsTerminator(
        tmp_path_factory.mktemp("tls-1.1"),
        tls_broker.server,
        tls_broker,
        options="min-version=TLS1,max-version=TLS1.1,ciphers=DEFAULT:@SECLEVEL=0",
    )
    start_with_port_retries(server)
    yield server
    server.stop()


def test_an_old_client_reaches_the_tls_1_1_server(pki: Pki, tls_1_1_server: TlsTerminator) -> None:
    # Proves the server below really offers TLS 1.1, so pantau's refusal is its own minimum version's.
    context = old_tls_context()
    context.load_verify_locations(pki.ca.cert)
    with (
        socket.create_connection((tls_1_1_server.host, tls_1_1_server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=SERVER_NAME) as tls,
    ):
        assert tls.version() in {"TLSv1", "TLSv1.1"}


async def test_pantau_refuses_a_broker_that_offers_only_tls_1_0_and_1_1(
    pki: Pki, tls_1_1_server: TlsTerminator, tmp_path: Path, mqtt_topic_root: str
) -> None:
    config = MqttConfig(
        host=SERVER_NAME,
        port=tls_1_1_server.port,
        tls=True,
        ca_file=pki.ca.cert,
        topic_prefix=mqtt_topic_root,
    )
    outbox = Outbox(tmp_path / "outbox.db", receipt_window=config.outbox_receipt_window)
    publisher = Publisher(config, outbox, Identity(SITE, GATEWAY))
    async with _running(publisher.run()):
        await eventually(lambda: publisher.stats.connect_failures_total >= 1, what="a connect attempt")
    outbox.close()
    assert (
        f"TLS with broker {SERVER_NAME}:{tls_1_1_server.port} failed: the broker and pantau have no TLS "
        "version in common (pantau: 1.2 or later): TLSV1_ALERT_PROTOCOL_VERSION"
    ) in str(publisher.stats.last_error)


def old_tls_context() -> ssl.SSLContext:
    """A client that speaks TLS 1.0 and 1.1 only, as an old device would."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 at its default level
    # Python deprecates the old versions themselves; this client is old on purpose.
    with pytest.warns(DeprecationWarning, match="TLSv1"):
        context.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.warns(DeprecationWarning, match="TLSv1_1"):
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


@contextlib.asynccontextmanager
async def _running(work: Any) -> AsyncIterator[None]:
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
