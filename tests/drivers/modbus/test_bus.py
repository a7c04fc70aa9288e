"""The bus stops when it is told to: a cancellation is never lost inside a request."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from drivers.modbus.bus import BusError, ModbusBus
from pantau.profiles.modbus.profile import Table
from pantau.site.connections import BusTiming, TcpBusConfig
from tests.harness.modbus import ModbusServerFactory, register_device

CANCELS = 500


async def test_a_poll_loop_stops_on_every_cancel_however_it_lands(
    modbus_tcp_server: ModbusServerFactory,
) -> None:
    # pymodbus's asyncio.wait_for drops a cancellation that arrives together with a reply (Python 3.11):
    # about 1 cancel in 150 here went unseen and the loop polled on. Cancels land at random points of
    # the request cycle; every one must stop the loop.
    server = modbus_tcp_server([register_device(1, holding={0: [1, 2, 3, 4]})])
    bus = ModbusBus(
        TcpBusConfig(transport="tcp", host=server.host, port=server.port),
        BusTiming(timeout=timedelta(milliseconds=500), retries=0),
        name="cancel-test",
    )
    rng = random.Random(11)  # noqa: S311 - test timing, not cryptography
    reads = 0

    async def poll_for_ever() -> None:
        nonlocal reads
        while True:
            try:
                await bus.read(Table.HOLDING, 0, 4, 1)
                reads += 1
            except BusError:
                pass

    lost = 0
    try:
        for _ in range(CANCELS):
            task = asyncio.create_task(poll_for_ever())
            await asyncio.sleep(rng.uniform(0.0005, 0.01))
            task.cancel()
            done, _pending = await asyncio.wait([task], timeout=2.0)
            if not done:
                lost += 1
                task.cancel()
                await asyncio.wait([task], timeout=2.0)
    finally:
        await bus.close()
    assert reads > CANCELS // 10, "the loops should have been reading when cancelled"
    assert lost == 0, f"{lost} of {CANCELS} cancellations were lost"
