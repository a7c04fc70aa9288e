"""The floor the gateway is measured against: a bare pymodbus + aiomqtt polling loop.

The same reads as the gateway (UNITS units x REGISTERS holding registers every INTERVAL, one request per
unit), one JSON message per unit per poll with the scaled values and a timestamp, QoS 0, no outbox, no
quality flags, no validation: the least any Modbus-to-MQTT bridge can do.

Run: `python -m bench.gateway.bare_loop MODBUS_PORT MQTT_PORT [UNITS] [REGISTERS] [INTERVAL_S]`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiomqtt
from pymodbus.client import AsyncModbusTcpClient


async def run(modbus_port: int, mqtt_port: int, units: int, registers: int, interval: float) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=modbus_port)
    await client.connect()
    async with aiomqtt.Client("127.0.0.1", mqtt_port, identifier="bench-bare") as mqtt:
        next_at = time.monotonic()
        while True:
            now = time.time()
            for unit in range(1, units + 1):
                reply = await client.read_holding_registers(0, count=registers, device_id=unit)
                values = {f"l{i}": word * 0.01 for i, word in enumerate(reply.registers)}
                payload = json.dumps({"ts": now, "values": values})
                await mqtt.publish(f"bare/v1/bench/d{unit}/readings", payload, qos=0)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


if __name__ == "__main__":
    modbus, broker, *rest = sys.argv[1:]
    units, registers, interval = (int(rest[0]), int(rest[1]), float(rest[2])) if rest else (10, 10, 0.1)
    asyncio.run(run(int(modbus), int(broker), units, registers, interval))
