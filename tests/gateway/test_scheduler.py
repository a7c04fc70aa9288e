"""The poll grid under a controlled wall clock (the one seam faked here: time itself)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from drivers.modbus.bus import BusTiming, ModbusBus, TcpBusConfig
from drivers.modbus.device import ModbusDevice
from drivers.sim.modbus_device import SimulatedModbusDevice, constant_signal
from gateway.config import DeviceConfig
from gateway.outbox import Builder
from gateway.scheduler import BusPoller, Clock, ScheduledDevice, next_slot
from pantau.contract import Topics
from tests.harness.modbus import ModbusServerFactory, shipped_modbus_profile


class FakeWallClock(Clock):
    """Wall time that only moves when the poller sleeps (or a test steps it); real I/O still happens."""

    def __init__(self, start: float, *, step_back_on_sleep: int = 0, step_s: float = 0.0) -> None:
        self.t = start
        self.slept: list[float] = []
        self._step_on, self._step_s = step_back_on_sleep, step_s

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)
        if len(self.slept) == self._step_on:
            self.t -= self._step_s  # the step lands while the poller sleeps, as it nearly always does
        await asyncio.sleep(0)


def test_next_slot_is_on_the_grid() -> None:
    assert next_slot(1000.3, 10) == 1010
    assert next_slot(1010.0, 10) == 1020
    assert next_slot(1000.3, 10, skip=2) == 1030


async def test_a_clock_stepped_back_re_grids_instead_of_stalling(
    modbus_tcp_server: ModbusServerFactory,
) -> None:
    profile = shipped_modbus_profile("dfrobot-sen0676")
    sim = SimulatedModbusDevice(profile, constant_signal({"level": 1.0, "installation_height": 4.0}))
    server = modbus_tcp_server([sim.sim_device()])
    bus = ModbusBus(TcpBusConfig(transport="tcp", host=server.host, port=server.port), BusTiming())
    config = DeviceConfig(id="radar", profile="dfrobot-sen0676", poll_interval=timedelta(seconds=10))
    # NTP finally corrects a box that booted an hour ahead, during the poller's 4th sleep.
    clock = FakeWallClock(start=1_800_000_000.0, step_back_on_sleep=4, step_s=3600)
    batches: list[list[Builder]] = []

    async def sink(batch: list[Builder]) -> None:
        batches.append(batch)

    poller = BusPoller(
        "bus",
        [ScheduledDevice(config, ModbusDevice(profile, bus, unit_id=1))],
        sink,
        site="s",
        gateway="g",
        topics=Topics(),
        clock=clock,
    )
    task = asyncio.create_task(poller.run())
    try:
        async with asyncio.timeout(20):
            while poller.polls_total < 7:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
    assert max(clock.slept) <= 10.0  # never slept through the hour-long gap
    assert len(clock.slept) <= 9  # re-gridded at once, not after 360 idle intervals
    assert clock.t % 10 == pytest.approx(0, abs=1e-6) or clock.t % 10 == pytest.approx(10, abs=1e-6)
