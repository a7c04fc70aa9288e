"""RTU line discipline over a real serial pty: a late reply is never taken for the next answer.

RTU has no transaction id. Slaves here answer late (after the master gave up), twice, from another unit or
with the wrong byte count; the master must throw all of that away, count it, and never decode it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from drivers.modbus.bus import ModbusBus
from drivers.modbus.device import Caution, ModbusDevice
from drivers.modbus.encoder import register_image
from drivers.sim.modbus_device import SimulatedModbusDevice
from pantau.contract import Quality
from pantau.profiles.modbus.profile import ModbusProfile, Table
from pantau.site.connections import BusTiming, SerialBusConfig
from tests.harness.modbus import ModbusServerThread, shipped_modbus_profile, vegapuls_values
from tests.harness.rtu_slave import (
    ReadRequest,
    Script,
    ScriptedRtuSlave,
    exception_reply,
    register_reply,
    registers,
)
from tests.harness.serial_pty import SocatPtyPair

pytestmark = pytest.mark.services

TIMEOUT = timedelta(milliseconds=300)
#: The SEN0676's registers: level 2.345 m (raw mm) in 3, installation height 6.50 m (raw cm) in 5.
SEN0676 = {3: 2345, 5: 650}
TRUE_VALUES = {"level": 2.345, "installation_height": 6.5}


def sen0676(*, merged: bool) -> ModbusProfile:
    """The shipped profile; `merged=False` reads its two channels in two requests of the same shape."""
    profile = shipped_modbus_profile("dfrobot-sen0676")
    return profile if merged else profile.model_copy(update={"max_gap": 0})


@pytest.fixture
async def rtu_bus(pty_pair: SocatPtyPair) -> AsyncIterator[Callable[..., ModbusBus]]:
    buses: list[ModbusBus] = []

    def make(retries: int = 0, timeout: timedelta = TIMEOUT) -> ModbusBus:
        timing = BusTiming(timeout=timeout, inter_frame_delay=timedelta(milliseconds=5), retries=retries)
        config = SerialBusConfig(transport="rtu", port=str(pty_pair.host_end), baudrate=19200)
        buses.append(bus := ModbusBus(config, timing, name="rs485"))
        return bus

    yield make
    for bus in buses:
        await bus.close()


def late(delay: float, table: dict[int, int] = SEN0676) -> Callable[[ReadRequest], Script]:
    """Firmware that answers every read correctly, `delay` seconds after it was asked."""
    return lambda r: [(delay, register_reply(r.unit, r.function, registers(table, r)))]


def assert_never_wrong(values: list[dict[str, tuple[Quality, float | None]]]) -> None:
    for poll in values:
        for channel, (quality, value) in poll.items():
            assert quality is Quality.MISSING or value == TRUE_VALUES[channel], (channel, quality, value)


@pytest.mark.parametrize("retries", [0, 1])
@pytest.mark.parametrize("merged", [True, False], ids=["merged", "single"])
async def test_a_late_reply_is_never_decoded_as_another_requests_answer(
    pty_pair: SocatPtyPair, rtu_bus: Callable[..., ModbusBus], retries: int, merged: bool
) -> None:
    # On main: installation_height published as 23.45 m `good` (register 3's raw value), 8 polls of 8.
    bus = rtu_bus(retries=retries)
    device = ModbusDevice(sen0676(merged=merged), bus, unit_id=1)
    with ScriptedRtuSlave(pty_pair.device_end, late(0.45)):
        polls = [await device.poll() for _ in range(4)]
    assert_never_wrong([{k: (r.quality, r.value) for k, r in p.readings.items()} for p in polls])
    assert all(r.reason == "timeout" for p in polls for r in p.readings.values())
    # Each late reply heard, counted and thrown away (the last poll's is heard before a next request).
    assert bus.line_counters.late_replies[1] >= len(polls) - 1
    detail = polls[-1].readings["installation_height"].detail or ""
    assert "late replies discarded" in detail and "raise the bus timeout" in detail


async def test_a_slow_device_within_the_timeout_reads_right(
    pty_pair: SocatPtyPair, rtu_bus: Callable[..., ModbusBus]
) -> None:
    """The control for the test above: the same firmware, a timeout it can meet."""
    bus = rtu_bus(timeout=timedelta(seconds=1))
    device = ModbusDevice(sen0676(merged=False), bus, unit_id=1)
    with ScriptedRtuSlave(pty_pair.device_end, late(0.45)):
        polls = [await device.poll() for _ in range(2)]
    assert [{k: r.value for k, r in p.readings.items()} for p in polls] == [TRUE_VALUES] * 2
    assert bus.line_counters.late_replies[1] == 0


async def test_the_pymodbus_simulator_answering_late_is_never_published_wrong(
    pty_pair: SocatPtyPair, rtu_bus: Callable[..., ModbusBus]
) -> None:
    """The issue's reproduction with a real pymodbus slave: SEN0676, retries 1, as ampal-mufakat runs."""
    profile = shipped_modbus_profile("dfrobot-sen0676")
    sim = SimulatedModbusDevice(profile, lambda _now: TRUE_VALUES)
    sim.faults.reply_delay_s = 0.45
    server = ModbusServerThread([sim.sim_device()], serial_port=pty_pair.device_end, baudrate=19200)
    with server:
        bus = rtu_bus(retries=1)
        device = ModbusDevice(profile, bus, unit_id=1)
        polls = [await device.poll() for _ in range(4)]
    assert_never_wrong([{k: (r.quality, r.value) for k, r in p.readings.items()} for p in polls])
    assert bus.line_counters.late_replies[1] > 0


async def test_a_device_late_only_on_merged_reads_is_replanned_not_given_up(
    pty_pair: SocatPtyPair, rtu_bus: Callable[..., ModbusBus]
) -> None:
    # On main: the late 3-register reply was handed to the 1-register probe, taken for a framing error,
    # and the device stayed `missing` for the whole run though it answered every request.
    def firmware(r: ReadRequest) -> Script:
        delay = 0.45 if r.count > 1 else 0.0  # chokes on reads through its unmapped register 4
        return [(delay, register_reply(r.unit, r.function, registers(SEN0676, r)))]

    device = ModbusDevice(sen0676(merged=True), rtu_bus(retries=0), unit_id=1)
    with ScriptedRtuSlave(pty_pair.device_end, firmware):
        polls = [await device.poll() for _ in range(3)]
    assert device.caution is Caution.NO_GAPS
    assert {k: r.value for k, r in polls[-1].readings.items()} == TRUE_VALUES
    assert (polls[-1].requests, polls[-1].failed_requests) == (2, 0)


async def test_frames_from_another_unit_or_of_another_size_are_discarded_while_waiting(
    pty_pair: SocatPtyPair, rtu_bus: Callable[..., ModbusBus]
) -> None:
    def firmware(r: ReadRequest) -> Script:
        right = register_reply(r.unit, r.function, registers(SEN0676, r))
        return [
            (0.0, register_reply(7, r.function, [9999] * r.count)),  # another unit's late reply
            (0.0, register_reply(r.unit, r.function, [4444] * (r.count + 2))),  # a reply to a larger read
            (0.0, b"\x00\xff\x13"),  # noise on the line
            (0.02, right),
        ]

    bus = rtu_bus()
    device = ModbusDevice(sen0676(merged=False), bus, unit_id=1)
    with ScriptedRtuSlave(pty_pair.device_end, firmware):
        poll = await device.poll()
    assert {k: r.value for k, r in poll.readings.items()} == TRUE_VALUES
    assert bus.line_counters.late_replies[7] >= 2
    assert bus.line_counters.late_replies[1] >= 2


async def test_a_late_reply_after_an_exception_is_not_taken_for_the_next_answer(
    pty_pair: SocatPtyPair, rtu_bus: Callable[..., ModbusBus]
) -> None:
    """A reply sent twice (exception, then data late) must not shift every later answer by one."""
    asked: list[ReadRequest] = []

    def firmware(r: ReadRequest) -> Script:
        asked.append(r)
        data = register_reply(r.unit, r.function, registers(SEN0676, r))
        if len(asked) == 1:
            return [(0.0, exception_reply(r.unit, r.function, 6)), (0.1, data)]
        return [(0.0, data)]

    bus = rtu_bus()
    device = ModbusDevice(sen0676(merged=False), bus, unit_id=1)
    with ScriptedRtuSlave(pty_pair.device_end, firmware):
        polls = [await device.poll() for _ in range(3)]
    assert_never_wrong([{k: (r.quality, r.value) for k, r in p.readings.items()} for p in polls])
    assert {k: r.value for k, r in polls[-1].readings.items()} == TRUE_VALUES


async def test_a_port_that_refuses_its_settings_is_a_connection_failure_that_names_them(
    pty_pair: SocatPtyPair, tmp_path: Path
) -> None:
    # On main: termios.error escaped (not an OSError): a traceback every poll and `internal_error`.
    config = SerialBusConfig(transport="rtu", port=str(pty_pair.host_end), baudrate=9600, parity="E")
    bus = ModbusBus(config, BusTiming(timeout=TIMEOUT), name="rs485")
    poll = await ModbusDevice(sen0676(merged=True), bus, unit_id=1).poll()
    await bus.close()
    for reading in poll.readings.values():
        assert (reading.quality, reading.reason) == (Quality.MISSING, "connection")
        assert f"{pty_pair.host_end} at 9600 8E1" in (reading.detail or "")
        assert "refused these settings" in (reading.detail or "")


async def test_a_rejected_merged_read_is_replanned_alone_and_no_register_is_read_twice(
    pty_pair: SocatPtyPair, rtu_bus: Callable[..., ModbusBus]
) -> None:
    # On main: one rejection made the whole device read one request per channel, the status register
    # twice (for the status word and for its pv_invalid bit): 10 requests a poll.
    profile = shipped_modbus_profile("vegapuls-c21")
    image = register_image(profile, vegapuls_values())[Table.HOLDING]

    def firmware(r: ReadRequest) -> Script:
        span = range(r.address, r.address + r.count)
        if r.count > 6 or any(a not in image for a in span):  # strict about holes and long reads
            return [(0.0, exception_reply(r.unit, r.function, 2))]
        return [(0.0, register_reply(r.unit, r.function, registers(image, r)))]

    device = ModbusDevice(profile, rtu_bus(), unit_id=246, params={"mounting_height_m": 6.0})
    with ScriptedRtuSlave(pty_pair.device_end, firmware) as slave:
        for _ in range(2):
            await device.poll()
        asked_before = len(slave.requests)
        steady = await device.poll()
        last_poll = slave.requests[asked_before:]
    assert steady.failed_requests == 0
    assert all(r.quality is Quality.GOOD for k, r in steady.readings.items() if k != "echo_amplitude")
    addresses = [a for r in last_poll for a in range(r.address, r.address + r.count)]
    assert len(addresses) == len(set(addresses)), "a register was read twice in one poll"
    assert (2002, 2) in {(r.address, r.count) for r in last_poll}  # the read nobody rejected kept its plan
    assert steady.requests == len(last_poll) == len(device.plan()) == 9


async def test_a_rejected_merged_read_leaves_the_other_reads_of_the_device_as_planned(
    pty_pair: SocatPtyPair, rtu_bus: Callable[..., ModbusBus]
) -> None:
    # On main: one exception 2 made the whole device cautious, so the status read 100..104, which the
    # device answers (its registers 101..103 read as 0), was split in two as well: 5 requests a poll, not 4.
    profile = shipped_modbus_profile("vegapuls-c21")
    image = register_image(profile, vegapuls_values())[Table.HOLDING]

    def firmware(r: ReadRequest) -> Script:
        span = range(r.address, r.address + r.count)
        if any(2300 <= a < 2316 and a not in image for a in span):  # refuses only its unmapped 2302
            return [(0.0, exception_reply(r.unit, r.function, 2))]
        return [(0.0, register_reply(r.unit, r.function, registers(image, r)))]

    device = ModbusDevice(profile, rtu_bus(), unit_id=246, params={"mounting_height_m": 6.0})
    with ScriptedRtuSlave(pty_pair.device_end, firmware) as slave:
        await device.poll()
        asked_before = len(slave.requests)
        steady = await device.poll()
        last_poll = [(r.address, r.count) for r in slave.requests[asked_before:]]
    assert steady.failed_requests == 0
    assert all(r.quality is Quality.GOOD for k, r in steady.readings.items() if k != "echo_amplitude")
    assert last_poll == [(100, 5), (2002, 2), (2300, 2), (2303, 13)]  # only 2300..2315 was re-planned
    assert steady.requests == len(device.plan()) == 4
