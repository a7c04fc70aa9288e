"""Each real-service fixture really works: these run first when something in the harness breaks."""

from __future__ import annotations

import asyncio
import socket

import aiomqtt
import httpx
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from tests.harness.influxd import Influxd
from tests.harness.modbus import ModbusServerFactory, register_device
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import EPHEMERAL_RANGE_FILE, free_port
from tests.harness.serial_pty import SocatPtyPair


async def test_mosquitto_delivers_a_qos1_message(mosquitto: Mosquitto, mqtt_topic_root: str) -> None:
    topic = f"{mqtt_topic_root}/smoke"
    async with (
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="smoke-sub") as subscriber,
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="smoke-pub") as publisher,
    ):
        await subscriber.subscribe(topic, qos=1)
        await publisher.publish(topic, b"hello pantau", qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(subscriber.messages))
    assert message.topic.value == topic
    assert message.payload == b"hello pantau"
    assert message.qos == 1


async def test_mosquitto_speaks_mqtt5_shared_subscriptions(
    mosquitto: Mosquitto, mqtt_topic_root: str
) -> None:
    topic = f"{mqtt_topic_root}/shared"
    v5 = aiomqtt.ProtocolVersion.V5
    async with (
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="w1", protocol=v5) as worker,
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="pub", protocol=v5) as publisher,
    ):
        await worker.subscribe(f"$share/smoke/{topic}", qos=1)
        await publisher.publish(topic, b"1", qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(worker.messages))
    assert message.payload == b"1"


def test_influxd_writes_then_reads_back_with_influxql(influxd: Influxd, influx_db: str) -> None:
    line = 'water_level,site=ampal-mufakat,device=wl-1 level=2.173,quality="good" 1764309600000000000'
    response = httpx.post(f"{influxd.url}/write", params={"db": influx_db, "precision": "ns"}, content=line)
    assert response.status_code == 204, response.text
    body = influxd.query(
        'SELECT "level", "quality" FROM "water_level" WHERE "site" = \'ampal-mufakat\'', influx_db
    )
    series = body["results"][0]["series"][0]
    assert series["columns"] == ["time", "level", "quality"]
    assert series["values"] == [["2025-11-28T06:00:00Z", 2.173, "good"]]


async def test_pymodbus_tcp_server_answers_a_register_read(modbus_tcp_server: ModbusServerFactory) -> None:
    server = modbus_tcp_server([register_device(246, holding={2002: [0x400B, 0x1687]})])
    client = AsyncModbusTcpClient(server.host, port=server.port, timeout=2, retries=0)
    await client.connect()
    try:
        result = await client.read_holding_registers(2002, count=2, device_id=246)
    finally:
        client.close()
    assert not result.isError()
    assert result.registers == [0x400B, 0x1687]
    value = client.convert_from_registers(result.registers, client.DATATYPE.FLOAT32)
    assert round(value, 3) == 2.173


async def test_pymodbus_rtu_over_socat_pty_answers_a_register_read(
    modbus_serial_server: ModbusServerFactory, pty_pair: SocatPtyPair
) -> None:
    modbus_serial_server([register_device(1, holding={0: [1, 9600, 7, 2, 2173]})])
    client = AsyncModbusSerialClient(str(pty_pair.host_end), baudrate=9600, timeout=2, retries=0)
    await client.connect()
    try:
        result = await client.read_holding_registers(0, count=5, device_id=1)
        missing = await client.read_holding_registers(100, count=1, device_id=1)
    finally:
        client.close()
    assert result.registers == [1, 9600, 7, 2, 2173]
    assert missing.isError()
    assert missing.exception_code == 2


def test_service_ports_are_free_and_below_the_ephemeral_range() -> None:
    # A port outside the range outgoing connections draw from: a client retrying against a stopped
    # service can never be given it as its own port (and connect to itself, keeping it).
    low = int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(port < low for port in ports), ports
    assert len(ports) > 1, "each call should pick afresh"
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
