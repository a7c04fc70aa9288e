"""The real gateway publisher and the real backend ingest over TLS, through the shipped TLS listener block
(tests/harness/mosquitto_tls.py): what the gateway queues is stored, and a burst of small messages
followed by silence arrives whole, without waiting for a later packet.

The backend reads either from Mosquitto's TLS listener, which sends each MQTT packet as a TLS record of its
own, or through a TLS-terminating proxy in front of the broker's plain listener, which packs up to 8 KiB of
packets into one record. With many packets in a record, a reader that takes one packet per readable event
leaves the rest decrypted inside the SSL object while the socket has nothing more to read (the
`SSLSocket.pending()` trap): without aiomqtt's own re-read, the tail of a burst waited for the next packet
(here: a keepalive PINGRESP two minutes later). pantau's batched reader leaves nothing in the SSL object
(tests/pantau/mqtt/test_batched_reads_tls.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.storage.model import Retention, Storage
from backend.storage.sqlite import SqliteStorage
from gateway.outbox import Outbox
from gateway.publisher import Identity, Publisher
from pantau.contract import Topics
from pantau.site.config import MqttConfig
from tests.harness.backend import (
    GATEWAY,
    SITE,
    Gateway,
    backend_config,
    eventually,
    opened,
    running,
)
from tests.harness.mosquitto_tls import SERVER_NAME, Pki, TlsMosquitto, TlsTerminator
from tests.harness.process import start_with_port_retries
from tests.mqtt_tls.readings import queue_readings, stored_seqs

pytestmark = pytest.mark.services  # Mosquitto with a TLS listener, socat

#: Far beyond the test's deadlines: a message stuck in the SSL object would wait this long for the PINGRESP.
KEEPALIVE = "120s"


@pytest.fixture(scope="module")
def tls_proxy(
    pki: Pki, tls_broker: TlsMosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsTerminator]:
    proxy = TlsTerminator(tmp_path_factory.mktemp("socat-tls"), tls_broker.server, tls_broker)
    start_with_port_retries(proxy)
    yield proxy
    proxy.stop()


def tls_mqtt(pki: Pki, port: int, prefix: str, **more: Any) -> dict[str, Any]:
    return {
        "host": SERVER_NAME,
        "port": port,
        "tls": True,
        "ca_file": str(pki.ca.cert),
        "topic_prefix": prefix,
        "keepalive": KEEPALIVE,
        "reconnect_cap": "1s",
    } | more


@contextlib.asynccontextmanager
async def tls_gateway(pki: Pki, broker: TlsMosquitto, prefix: str, workdir: Path) -> AsyncIterator[Gateway]:
    """The real gateway outbox and publisher, connected to the broker's TLS listener."""
    # No receipts: they and their PUBACKs are packets that would wake a stuck reader (see the burst test).
    config = MqttConfig.model_validate(tls_mqtt(pki, broker.tls_port, prefix, await_receipts=False))
    outbox = Outbox(workdir / "gateway-outbox.db", receipt_window=config.outbox_receipt_window)
    publisher = Publisher(config, outbox, Identity(SITE, GATEWAY))
    task = asyncio.create_task(publisher.run(), name="gateway-publisher")
    try:
        yield Gateway(outbox, publisher, Topics(prefix))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        outbox.close()


@pytest.mark.parametrize("route", ["tls-listener", "tls-proxy"])
async def test_a_burst_of_small_messages_then_silence_arrives_whole_over_tls(
    route: str,
    pki: Pki,
    tls_broker: TlsMosquitto,
    tls_proxy: TlsTerminator,
    mqtt_topic_root: str,
    tmp_path: Path,
) -> None:
    count = 1500
    backend_port = tls_broker.tls_port if route == "tls-listener" else tls_proxy.port
    config = backend_config(
        tls_broker,
        mqtt_topic_root,
        tmp_path,
        mqtt=tls_mqtt(pki, backend_port, mqtt_topic_root, receipts=False),
    )
    storage = SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
    async with (
        opened(storage),
        running(config, storage) as worker,
        tls_gateway(pki, tls_broker, mqtt_topic_root, tmp_path) as gateway,
    ):
        sent = await queue_readings(gateway, count)
        await gateway.drained()  # every message acknowledged by the broker: from here on, silence
        await eventually(
            lambda: worker.subscriber.stats.received_total >= count,
            timeout=30,
            what=f"{count} messages at the backend (received {worker.subscriber.stats.received_total})",
        )
        await eventually(lambda: _all_stored(storage, sent), timeout=30, what=f"{count} messages stored")
        assert worker.subscriber.stats.connect_failures_total == 0


async def _all_stored(storage: Storage, sent: set[int]) -> bool:
    return await stored_seqs(storage) == sent
