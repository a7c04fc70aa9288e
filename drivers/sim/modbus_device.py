"""A Modbus device simulated from its profile: pymodbus serves the registers, a signal fills them.

Before each read the action hook writes the signal's current values into the register block, so every poll
sees fresh data; faults (timeouts, exception responses, NaN, stuck values) are switched at run time.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from drivers.modbus.encoder import EncodeError, register_image
from pantau.profiles.modbus.profile import ModbusProfile, Table

#: Engineering values per channel at a point in time.
Signal = Callable[[datetime], Mapping[str, float | str]]
_FUNCTION_TABLE = {1: Table.COILS, 2: Table.DISCRETE_INPUTS, 3: Table.HOLDING, 4: Table.INPUT}
_UNUSED_ADDRESS = 65535


@dataclass
class Faults:
    """Misbehaviour to inject; the fields can be changed while the server runs."""

    no_reply: bool = False  # every request times out (device unpowered, wrong address)
    no_reply_next: int = 0  # the next N requests time out
    exception_code: int | None = None  # every request answers with this exception
    busy_next: int = 0  # the next N requests answer 6 (device busy)
    nan_channels: set[str] = field(default_factory=set)  # float channels report NaN
    inf_channels: set[str] = field(default_factory=set)  # float channels report +inf (over range)
    stuck: bool = False  # values freeze at their last state
    reply_delay_s: float = 0.0  # the device's own turnaround
    garbage_every: int = 0  # corrupt every Nth reply frame on the wire (CRC errors, noise on the line)
    _sent: int = 0

    def tamper(self, sending: bool, packet: bytes) -> bytes:  # noqa: FBT001 - pymodbus' trace_packet signature
        """pymodbus `trace_packet` hook: flip a byte of every Nth outgoing frame."""
        if not sending or self.garbage_every <= 0 or not packet:
            return packet
        self._sent += 1
        if self._sent % self.garbage_every:
            return packet
        return packet[:-1] + bytes([packet[-1] ^ 0x5A])

    def timeout_now(self) -> bool:
        if self.no_reply:
            return True
        if self.no_reply_next > 0:
            self.no_reply_next -= 1
            return True
        return False


class SimulatedModbusDevice:
    """One simulated device (unit id) speaking `profile`'s register map."""

    def __init__(
        self,
        profile: ModbusProfile,
        signal: Signal,
        *,
        unit_id: int | None = None,
        faults: Faults | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fill_gaps: int = 0,
        silent_on_unmapped: bool = False,
    ) -> None:
        """`fill_gaps`: unmapped holes up to this many registers read as 0 (many devices do that); larger
        holes answer exception 2, as stricter devices do. `silent_on_unmapped`: a read touching a hole
        gets no answer at all, as some cheap transmitters do, instead of exception 2."""
        self.fill_gaps = fill_gaps
        self.silent_on_unmapped = silent_on_unmapped
        self._mapped: dict[Table, frozenset[int]] = {}
        self.profile = profile
        self.signal = signal
        self.unit_id = profile.default_unit_id if unit_id is None else unit_id
        self.faults = faults or Faults()
        self.clock = clock
        self.reads = 0
        self._frozen: Mapping[str, float | str] | None = None

    def values(self) -> dict[str, float | str]:
        """The channel values the device reports right now, faults applied."""
        if self.faults.stuck and self._frozen is not None:
            current = dict(self._frozen)
        else:
            current = dict(self.signal(self.clock()))
            self._frozen = current
        for name in self.faults.nan_channels:
            current[name] = math.nan
        for name in self.faults.inf_channels:
            current[name] = math.inf
        return current

    def sim_device(self) -> SimDevice:
        """The pymodbus SimDevice to hand to a ModbusTcpServer / ModbusSerialServer."""
        image = register_image(self.profile, self.values())
        for table in (Table.HOLDING, Table.INPUT):
            self._mapped[table] = frozenset(image[table])
            # Silent devices: pymodbus must see the holes as valid, or it answers exception 2 itself.
            holes = 65_536 if self.silent_on_unmapped else self.fill_gaps
            image[table] = _fill_holes(image[table], holes)
        blocks = {table: _blocks(image[table], bits=table.is_bits) for table in Table}
        return SimDevice(
            id=self.unit_id,
            simdata=(
                blocks[Table.COILS],
                blocks[Table.DISCRETE_INPUTS],
                blocks[Table.HOLDING],
                blocks[Table.INPUT],
            ),
            action=self._on_request,
        )

    async def _on_request(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        _set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.reads += 1
        if self.faults.reply_delay_s:
            await asyncio.sleep(self.faults.reply_delay_s)
        if self.faults.timeout_now():
            _stay_silent(self.unit_id)
        table = _FUNCTION_TABLE.get(function_code)
        if self.silent_on_unmapped and table in self._mapped:
            mapped = self._mapped[table]
            if any(a not in mapped for a in range(address, address + count)):
                _stay_silent(self.unit_id)
        if self.faults.exception_code is not None:
            return ExcCodes(self.faults.exception_code)
        if self.faults.busy_next > 0:
            self.faults.busy_next -= 1
            return ExcCodes.DEVICE_BUSY
        if table is not None:
            self._refresh(table, start_address, current_registers)
        return None

    def _refresh(self, table: Table, start_address: int, registers: list[int]) -> None:
        try:
            image = register_image(self.profile, self.values())[table]
        except EncodeError:
            return  # a signal value the register cannot hold: keep serving the last good image
        for address, word in image.items():
            if table.is_bits:
                # pymodbus keeps coils/discrete inputs packed 16 to a register, bit 0 first; its block starts
                # at register address//16.
                offset, mask = address // 16 - start_address, 1 << (address % 16)
                if 0 <= offset < len(registers):
                    registers[offset] = registers[offset] | mask if word else registers[offset] & ~mask
                continue
            offset = address - start_address
            if 0 <= offset < len(registers):
                registers[offset] = word


def _stay_silent(unit_id: int) -> None:
    # pymodbus servers started with ignore_missing_devices=True send nothing at all for NoSuchIdException:
    # the client sees a real timeout, as with an unpowered device, without a late reply to confuse it.
    raise NoSuchIdException(f"simulated no reply from unit {unit_id}")


async def _never_answer(
    _function_code: int,
    _start_address: int,
    _address: int,
    _count: int,
    _registers: list[int],
    _set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    _stay_silent(0)
    return None


def absent_units() -> SimDevice:
    """Unit id 0 catches every unit id not served: none of them answers, as on a real RS-485 line.

    (pymodbus' own handling of unknown ids replies with exception 4, which no real bus does.)
    Serve it with `ignore_missing_devices=True`.
    """
    # Every address must be valid, or pymodbus answers exception 2 before the action can stay silent.
    everything = SimData(address=0, count=65536, values=0, datatype=SimType.REGISTERS)
    return SimDevice(id=0, simdata=[everything], action=_never_answer)


def _fill_holes(image: dict[int, int], largest: int) -> dict[int, int]:
    filled = dict(image)
    addresses = sorted(image)
    for before, after in itertools.pairwise(addresses):
        if 1 < after - before <= largest + 1:
            filled.update(dict.fromkeys(range(before + 1, after), 0))
    return filled


def _blocks(image: dict[int, int], *, bits: bool) -> list[SimData]:
    """Contiguous runs of the image as SimData; unmapped addresses stay invalid (exception 2)."""
    if not image:
        if bits:
            return [SimData(address=_UNUSED_ADDRESS, values=[False], datatype=SimType.BITS)]
        return [SimData(address=_UNUSED_ADDRESS, datatype=SimType.INVALID)]
    runs: list[tuple[int, list[int]]] = []
    for address in sorted(image):
        if runs and address == runs[-1][0] + len(runs[-1][1]):
            runs[-1][1].append(image[address])
        else:
            runs.append((address, [image[address]]))
    if bits:
        return [SimData(address=a, values=[bool(v) for v in vs], datatype=SimType.BITS) for a, vs in runs]
    return [SimData(address=a, values=vs, datatype=SimType.REGISTERS) for a, vs in runs]


def constant_signal(values: Mapping[str, float | str]) -> Signal:
    """A signal that always reports the same values (tests, bench checks)."""
    frozen = dict(values)
    return lambda _now: frozen
