"""Fixtures with real services: see tests/harness. Session-scoped where starting is slow; tests stay
isolated by using their own topics (`mqtt_topic_root`) and databases (`influx_db`).

Every test using one of them is marked `services` and runs only in `make test`; the rest is the fast lane
(`make test-fast`). The rule and the guard that enforces it: tests/harness/lanes.py."""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from pymodbus.simulator import SimDevice

from tests.harness.binaries import require_binary
from tests.harness.influxd import Influxd
from tests.harness.lanes import guard, uses_service_fixture
from tests.harness.modbus import ModbusServerFactory, ModbusServerThread
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import start_with_port_retries
from tests.harness.serial_pty import SocatPtyPair


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `services` every test that needs a service fixture, directly or through other fixtures."""
    for item in items:
        if uses_service_fixture(item):
            item.add_marker(pytest.mark.services)


def _guarded(item: pytest.Item) -> Generator[None, object, object]:
    """Run a test phase; without the `services` marker, under the guard of tests/harness/lanes.py."""
    if item.get_closest_marker("services") is not None:
        return (yield)
    with guard(item.nodeid) as tried:
        result = yield
    if tried:  # the code under test caught the guard's exception: fail the test anyway
        pytest.fail(f"{item.nodeid} has no `services` marker but it {tried[0]}", pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A private broker for the whole session (MQTT v5 capable)."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"), require_binary("mosquitto", "mosquitto"))
    start_with_port_retries(broker)
    yield broker
    broker.stop()


@pytest.fixture
def mqtt_topic_root() -> str:
    """A topic prefix no other test uses, so tests sharing the broker never see each other's messages."""
    return f"test/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    """A private InfluxDB 1.x for the whole session."""
    server = Influxd(tmp_path_factory.mktemp("influxd"), require_binary("influxd", "influxdb"))
    start_with_port_retries(server)
    yield server
    server.stop()


@pytest.fixture
def influx_db(influxd: Influxd) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    influxd.create_database(name)
    yield name
    influxd.drop_database(name)


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[SocatPtyPair]:
    """A virtual serial cable made by socat."""
    pair = SocatPtyPair(tmp_path / "pty", require_binary("socat", "socat"))
    pair.start()
    yield pair
    pair.stop()


@pytest.fixture
def modbus_tcp_server() -> Iterator[ModbusServerFactory]:
    """Start pymodbus TCP servers for given devices; all are stopped after the test."""
    servers: list[ModbusServerThread] = []

    def start(devices: list[SimDevice]) -> ModbusServerThread:
        server = ModbusServerThread(devices)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def modbus_serial_server(pty_pair: SocatPtyPair) -> Iterator[ModbusServerFactory]:
    """Start a pymodbus RTU server on the device end of `pty_pair`; the test opens `pty_pair.host_end`."""
    servers: list[ModbusServerThread] = []

    def start(devices: list[SimDevice]) -> ModbusServerThread:
        server = ModbusServerThread(devices, serial_port=pty_pair.device_end)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
