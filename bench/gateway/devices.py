"""The benchmark's simulated devices, in a process of their own: UNITS Modbus TCP units on one pymodbus
server, REGISTERS holding registers each, every value moving a little on every read.

Run: `python -m bench.gateway.devices PORT [UNITS] [REGISTERS]` (bench/gateway_cpu.py starts it).
"""

from __future__ import annotations

import asyncio
import sys

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimDevice

from drivers.sim.modbus_device import absent_units
from tests.harness.modbus import register_device


async def _move(
    _function_code: int,
    _start_address: int,
    _address: int,
    _count: int,
    registers: list[int],
    _set_values: list[int] | list[bool] | None,
) -> None:
    # A level in cm wandering between 100 and 1100: every poll decodes fresh numbers.
    for i, word in enumerate(registers):
        registers[i] = 100 + (word + 7 + i) % 1000


def devices(units: int, registers: int) -> list[SimDevice]:
    simulated = []
    for unit in range(1, units + 1):
        device = register_device(unit, holding={0: [100 + 10 * unit + r for r in range(registers)]})
        simulated.append(SimDevice(id=device.id, simdata=device.simdata, action=_move))
    return [*simulated, absent_units()]


async def serve(port: int, units: int, registers: int) -> None:
    server = ModbusTcpServer(
        devices(units, registers), address=("127.0.0.1", port), ignore_missing_devices=True
    )
    await server.serve_forever()


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:]]
    asyncio.run(serve(*arguments) if len(arguments) == 3 else serve(arguments[0], 10, 10))
