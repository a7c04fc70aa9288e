"""A throwaway certificate authority and a Mosquitto with the shipped TLS listener, for the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.mosquitto_tls import Pki, TlsMosquitto
from tests.harness.process import start_with_port_retries


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsMosquitto]:
    """Anonymous clients on both listeners: these tests are about TLS, not about who may connect."""
    broker = TlsMosquitto(tmp_path_factory.mktemp("mosquitto-tls"), pki)
    start_with_port_retries(broker)
    yield broker
    broker.stop()
