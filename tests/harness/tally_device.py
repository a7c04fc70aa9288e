"""A simulated transmitter that numbers its readings, so a fault test can count them at the source.

A DFRobot SEN0676 radar (the shipped `dfrobot-sen0676` profile, served by the real pymodbus stack) whose
level register is a counter: every read of it answers the next number, in millimetres. The value stored at
the far end therefore says which answer of the device it came from, so "read at the device" and "stored"
are compared value by value, not as two totals that could hide a loss behind a duplicate.

What counts as read is what left the device intact on the wire: a value is recorded when pymodbus sends the
reply frame carrying it, and `garbage` replaces some of those frames with noise first (recorded as garbled,
not as read; on RTU the CRC makes that detectable, which is why garbage is a serial-line fault). An exception
reply or a timeout (`faults`, the simulator's own switches) carries no value and records nothing.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pymodbus.constants import ExcCodes
from pymodbus.simulator import SimDevice

from drivers.sim.modbus_device import Faults, SimulatedModbusDevice
from tests.harness.modbus import shipped_modbus_profile

PROFILE = "dfrobot-sen0676"
#: The counter's register and channel: a level in millimetres (uint16, scale 0.001), one register that is a
#: whole reading by itself. (A transmitter whose scale lives in another register, such as the QDY30A, can
#: have the value read and its scale refused in one poll: a number on the wire that is no reading.)
COUNTER_REGISTER = 3
CHANNEL = "level"
#: Numbers stay far below the profile's 40 m range: a scenario reads a few hundred.
SCALE = 1000


@dataclass(frozen=True, slots=True)
class Served:
    value: int
    at: float  # time.monotonic() when the reply left
    wall: float = 0.0  # time.time() then: the clock the gateway stamps its readings with


@dataclass
class Garbage:
    """Noise on the line: each reply carrying a value is replaced by random bytes with this probability."""

    probability: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311 - seeded noise, not secrets


class TallyDevice:
    """One numbered transmitter; `sim_device()` goes to a ModbusServerThread, `trace` to its trace_packet."""

    def __init__(self, device_id: str, unit_id: int) -> None:
        self.device_id = device_id
        self.unit_id = unit_id
        self.faults = Faults()
        self.garbage = Garbage()
        self.served: list[Served] = []
        self.garbled: list[Served] = []
        self._next = 1
        self._pending: int | None = None
        self._lock = threading.Lock()
        # fill_gaps: the unmapped register between level and height reads as 0, so one request reads both.
        self._sim = SimulatedModbusDevice(
            shipped_modbus_profile(PROFILE), self._signal, unit_id=unit_id, faults=self.faults, fill_gaps=1
        )

    def _signal(self, _now: datetime) -> dict[str, float | str]:
        # Called once per read request the device answers with data (the action hook refreshes the image).
        value = self._next
        self._next += 1
        return {CHANNEL: value / SCALE, "installation_height": 6.2}

    def sim_device(self) -> SimDevice:
        device = self._sim.sim_device()
        original = device.action
        assert original is not None

        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            answer = await original(function_code, start_address, address, count, registers, set_values)
            if answer is None and function_code == 3 and address <= COUNTER_REGISTER < address + count:
                with self._lock:
                    self._pending = registers[COUNTER_REGISTER - start_address]
            return answer

        return dataclasses.replace(device, action=action)

    def on_reply(self, packet: bytes) -> bytes:
        """The reply frame about to leave: record the value it carries, or garble it."""
        with self._lock:
            value, self._pending = self._pending, None
        if value is None:
            return packet
        served = Served(value, time.monotonic(), time.time())
        if self.garbage.probability and self.garbage.rng.random() < self.garbage.probability:
            self.garbled.append(served)
            return self.garbage.rng.randbytes(len(packet))
        self.served.append(served)
        return packet

    def values(self) -> list[int]:
        return [s.value for s in self.served]


class Line:
    """The trace_packet hook of one server: its replies go to the device whose request they answer."""

    def __init__(self, devices: Sequence[TallyDevice]) -> None:
        self.devices = list(devices)

    def trace(self, sending: bool, packet: bytes) -> bytes:
        if not sending:
            return packet
        for device in self.devices:  # one request at a time per line: at most one has a value pending
            if device._pending is not None:
                return device.on_reply(packet)
        return packet
