"""Batched reads over TLS leave nothing behind in the SSL object (the `SSLSocket.pending()` trap).

An SSL socket decrypts a whole TLS record at once: bytes of it a reader has not taken yet wait inside the
SSL object, where the event loop cannot see them (the socket is not readable). A TLS-terminating proxy in
front of the broker (here socat, tests/harness/mosquitto_tls.py) packs many small MQTT packets into one
record; paho alone reads one packet per readable event and leaves the rest there, and only aiomqtt's
reader callback, which reads again while `pending()` says so, kept the tail of a burst from waiting for
the next packet. `read_in_batches` asks for far more than a record (`_READ_BYTES`) and reads until the SSL
object answers "want read", so after each of its reads the SSL object is empty: it needs no such re-read.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from pantau.mqtt import Incoming, ManualAcks
from pantau.mqtt.internals import paho_client
from tests.harness.mosquitto import Mosquitto
from tests.harness.mosquitto_tls import SERVER_NAME, Pki, TlsTerminator
from tests.harness.process import start_with_port_retries

pytestmark = pytest.mark.services  # Mosquitto, socat

COUNT = 3000
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_proxy(
    pki: Pki, mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsTerminator]:
    proxy = TlsTerminator(tmp_path_factory.mktemp("socat-tls"), pki.server(), mosquitto)
    start_with_port_retries(proxy)
    yield proxy
    proxy.stop()


def publish_burst(broker: Mosquitto, prefix: str) -> None:
    """COUNT small QoS 1 messages on the broker's plain listener, as fast as the broker takes them."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-pub")
    client.max_inflight_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for info in [client.publish(f"{prefix}/{i % 5}", b"%05d" % i, qos=1) for i in range(COUNT)]:
            info.wait_for_publish(DEADLINE_S)
    finally:
        client.loop_stop()
        client.disconnect()


async def test_a_burst_through_a_tls_proxy_leaves_nothing_in_the_ssl_object(
    pki: Pki, mosquitto: Mosquitto, tls_proxy: TlsTerminator, tmp_path: Path
) -> None:
    prefix = f"tls-burst-{uuid.uuid4().hex}"
    received: list[Incoming] = []
    arrived = asyncio.Event()

    def on_message(message: Incoming) -> None:
        received.append(message)
        arrived.set()

    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    client = aiomqtt.Client(
        SERVER_NAME, tls_proxy.port, identifier=prefix, tls_context=context, keepalive=120
    )
    acks = ManualAcks(client, received=on_message, lost=lambda: None)
    inner = paho_client(client)
    read = inner.loop_read
    left_in_ssl: list[int] = []  # decrypted bytes still inside the SSL object after each read

    def measured(max_packets: int = 1) -> MQTTErrorCode:
        rc = read(max_packets)
        sock = inner._sock  # the SSL socket under test
        left_in_ssl.append(sock.pending() if isinstance(sock, ssl.SSLSocket) else 0)
        return rc

    inner.loop_read = measured  # type: ignore[method-assign]
    async with client:
        await client.subscribe(f"{prefix}/#", qos=1)
        await asyncio.to_thread(publish_burst, mosquitto, prefix)
        async with asyncio.timeout(DEADLINE_S):
            while len(received) < COUNT:
                arrived.clear()
                await arrived.wait()
        acks.ack_batch(received)
    assert sorted(m.payload for m in received) == [b"%05d" % i for i in range(COUNT)]
    assert max(left_in_ssl) == 0, (
        f"{sum(1 for n in left_in_ssl if n)} of {len(left_in_ssl)} reads left up to "
        f"{max(left_in_ssl)} decrypted bytes in the SSL object"
    )
    assert len(left_in_ssl) < COUNT / 2  # read in batches, not a packet per event
