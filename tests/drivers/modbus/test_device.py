"""Every shipped Modbus profile decoded exactly from a real pymodbus server, over TCP and over a socat pty.

Cases live in cases/<profile>.yaml: the values the simulated device holds, poll after poll, and the readings
pantau must publish for them. Faults (exception responses, timeouts, busy devices, dead units) follow.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from drivers.modbus import device as device_module
from drivers.modbus.bus import ModbusBus
from drivers.modbus.device import Caution, ModbusDevice
from drivers.profiles import load_profile
from drivers.sim.modbus_device import SimulatedModbusDevice
from pantau.contract import Quality, Reading
from pantau.profiles.files import PROFILE_DIR
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.site.connections import BusTiming, SerialBusConfig, TcpBusConfig
from tests.harness.modbus import (
    ModbusServerFactory,
    ModbusServerThread,
    shipped_modbus_profile,
    vegapuls_values,
)
from tests.harness.serial_pty import SocatPtyPair

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))
REPO = Path(__file__).resolve().parents[3]
FAST = BusTiming(timeout=timedelta(milliseconds=400), inter_frame_delay=timedelta(milliseconds=5), retries=0)


@dataclass
class Rig:
    """A simulated device served by pymodbus and a pantau bus pointed at it."""

    sim: SimulatedModbusDevice
    server: ModbusServerThread
    bus: ModbusBus

    def device(self, **overrides: Any) -> ModbusDevice:
        options: dict[str, Any] = {"unit_id": self.sim.unit_id} | overrides
        return ModbusDevice(self.sim.profile, self.bus, **options)


class RigFactory(Protocol):
    def __call__(
        self,
        profile: ModbusProfile,
        values: dict[str, float | str],
        *,
        silent_on_unmapped: bool = False,
        fill_gaps: int = 0,
    ) -> Rig: ...


@pytest.fixture(params=["tcp", "rtu-pty", "rtu-over-tcp"])
async def rig(
    request: pytest.FixtureRequest, modbus_tcp_server: ModbusServerFactory, tmp_path: Path
) -> AsyncIterator[RigFactory]:
    buses: list[ModbusBus] = []

    def make(
        profile: ModbusProfile,
        values: dict[str, float | str],
        *,
        silent_on_unmapped: bool = False,
        fill_gaps: int = 0,
    ) -> Rig:
        state = {"values": values}
        sim = SimulatedModbusDevice(
            profile, lambda _now: state["values"], silent_on_unmapped=silent_on_unmapped, fill_gaps=fill_gaps
        )
        sim.state = state  # type: ignore[attr-defined]
        if request.param == "rtu-over-tcp":  # a serial device server (Moxa NPort style) in front of the bus
            server = ModbusServerThread([sim.sim_device()], rtu_over_tcp=True, trace_packet=sim.faults.tamper)
            server.start()
            request.addfinalizer(server.stop)
            config = TcpBusConfig(transport="tcp", host=server.host, port=server.port, framing="rtu")
            bus = ModbusBus(config, FAST, name="serial-server")
        elif request.param == "tcp":
            server = modbus_tcp_server([sim.sim_device()])
            bus = ModbusBus(
                TcpBusConfig(transport="tcp", host=server.host, port=server.port), FAST, name="tcp"
            )
        else:
            pty: SocatPtyPair = request.getfixturevalue("pty_pair")
            server = ModbusServerThread(
                [sim.sim_device()], serial_port=pty.device_end, baudrate=19200, trace_packet=sim.faults.tamper
            )
            server.start()
            request.addfinalizer(server.stop)
            bus = ModbusBus(
                SerialBusConfig(transport="rtu", port=str(pty.host_end), baudrate=19200), FAST, name="rs485"
            )
        buses.append(bus)
        return Rig(sim, server, bus)

    yield make
    for bus in buses:
        await bus.close()


def load_case(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def as_expected(reading: Reading, expected: dict[str, Any]) -> dict[str, Any]:
    shown = reading.model_dump(
        mode="json", exclude_none=True, include={"value", "text", "unit", "quality", "reason"}
    )
    if "detail" in expected:
        shown["detail"] = reading.detail
    return shown


@pytest.mark.parametrize("case_path", CASES, ids=[p.stem for p in CASES])
async def test_shipped_profile_decodes_exactly(case_path: Path, rig: RigFactory) -> None:
    case = load_case(case_path)
    shipped = PROFILE_DIR / f"{case['profile']}.yaml"
    profile = load_profile(shipped if shipped.exists() else REPO / case["profile"])
    assert isinstance(profile, ModbusProfile)
    setup = rig(profile, case["polls"][0]["device"])
    device = setup.device(params=case["params"])
    for number, poll in enumerate(case["polls"], start=1):
        setup.sim.state["values"] = poll["device"]  # type: ignore[attr-defined]
        result = await device.poll()
        got = {cid: as_expected(r, poll["expected"].get(cid, {})) for cid, r in result.readings.items()}
        assert got == poll["expected"], f"poll {number}"
        assert result.failed_requests == 0


def test_every_shipped_modbus_profile_has_a_case() -> None:
    modbus = {p.stem for p in PROFILE_DIR.glob("*.yaml") if "protocol: modbus" in p.read_text()}
    assert modbus <= {p.stem for p in CASES}


async def test_merged_read_over_unmapped_registers_is_replanned(rig: RigFactory) -> None:
    # VEGAPULS maps 2300..2313 sparsely; a device that rejects reads across the holes answers exception 2.
    profile = shipped_modbus_profile("vegapuls-c21")
    values = vegapuls_values()
    setup = rig(profile, values)
    device = setup.device(params={"mounting_height_m": 6.0})
    first_plan = device.plan()
    result = await device.poll()
    assert all(r.quality is Quality.GOOD for r in result.readings.values())
    assert device.caution > Caution.AS_CONFIGURED  # remembered for the next polls
    assert len(device.plan()) > len(first_plan)
    again = await device.poll()
    assert again.requests == len(device.plan())  # no more rejected reads
    assert all(r.quality is Quality.GOOD for r in again.readings.values())


async def test_exception_response_marks_channels_missing_with_its_code(rig: RigFactory) -> None:
    profile = shipped_modbus_profile("dfrobot-sen0676")
    setup = rig(profile, {"level": 1.0, "installation_height": 4.0})
    setup.sim.faults.exception_code = 4
    result = await setup.device().poll()
    assert {(r.quality, r.reason) for r in result.readings.values()} == {
        (Quality.MISSING, "modbus_exception_4")
    }
    setup.sim.faults.exception_code = None
    assert (await setup.device().poll()).readings["level"].value == 1.0


async def test_exception_codes_are_named_in_each_channels_detail(rig: RigFactory) -> None:
    # On main: "exception code 11", which sends nobody to the serial server behind the TCP gateway.
    profile = shipped_modbus_profile("dfrobot-sen0676")
    setup = rig(profile, {"level": 1.0, "installation_height": 4.0})
    setup.sim.faults.exception_code = 11
    result = await setup.device().poll()
    for reading in result.readings.values():
        assert reading.reason == "modbus_exception_11"
        assert f"unit 1 on {setup.bus.name}: exception 11 (gateway target device failed to respond" in (
            reading.detail or ""
        )


async def test_busy_device_is_retried_without_losing_the_poll(rig: RigFactory) -> None:
    profile = shipped_modbus_profile("dfrobot-sen0676")
    setup = rig(profile, {"level": 1.0, "installation_height": 4.0})
    setup.sim.faults.busy_next = 2
    result = await setup.device().poll()
    assert result.readings["level"].value == 1.0
    assert setup.sim.faults.busy_next == 0


#: The QDY30A maps five registers without a hole: one merged read, which no device rejects.
QDY30A_VALUES: dict[str, float | str] = {
    "slave_address": 1,
    "baud_code": 3,
    "pressure_unit": 7,
    "decimals": 3,
    "water_column": 2.173,
}


def vegapuls_reading_holes(rig: RigFactory) -> tuple[Rig, ModbusDevice]:
    """A VEGAPULS that reads its unmapped registers as 0: its merged reads span holes and are answered."""
    setup = rig(shipped_modbus_profile("vegapuls-c21"), vegapuls_values(), fill_gaps=65_536)
    return setup, setup.device(params={"mounting_height_m": 6.0})


async def test_a_lost_reply_is_asked_again_without_merging_less(rig: RigFactory) -> None:
    # Noise on the line swallows the reply to the first merged read (status 100..104, over a hole) once.
    setup, device = vegapuls_reading_holes(rig)
    plan = device.plan()
    assert device._reads_through_gap(plan[0])
    setup.sim.faults.no_reply_next = 1
    result = await device.poll()
    assert all(r.quality is Quality.GOOD for r in result.readings.values()), result.readings
    # lost, its first channel alone, the merged read again, then the rest of the plan
    assert (result.requests, result.failed_requests) == (len(plan) + 2, 1)
    assert device.caution is Caution.AS_CONFIGURED  # noise, not a device that cannot take the read


async def test_a_timeout_on_a_read_without_holes_is_not_probed(rig: RigFactory) -> None:
    # The QDY30A's one read spans no hole, so no device refuses it: a timeout means silence, asked no more.
    setup = rig(shipped_modbus_profile("qdy30a"), QDY30A_VALUES)
    device = setup.device(params={"datum_m": -0.35})
    setup.sim.faults.no_reply_next = 1
    before = setup.sim.reads
    result = await device.poll()
    assert (result.requests, result.failed_requests, setup.sim.reads - before) == (1, 1, 1)
    assert {r.quality for r in result.readings.values()} == {Quality.MISSING}
    assert device.caution is Caution.AS_CONFIGURED
    assert (await device.poll()).readings["water_column"].value == 2.173


async def test_a_dead_device_costs_one_timeout_per_poll_and_recovers(
    rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_module, "PROBE_EVERY", 2)
    setup, device = vegapuls_reading_holes(rig)
    setup.sim.faults.no_reply = True
    reads, failed = [], []
    for _ in range(3):
        before = setup.sim.reads
        result = await device.poll()
        reads.append(setup.sim.reads - before)
        failed.append(result.failed_requests)
        assert "timeout" in {r.reason for r in result.readings.values()}
        assert not any(r.quality is Quality.GOOD for r in result.readings.values())
    # Probed (a channel alone) on the first silent poll, then only every PROBE_EVERY silent polls; the rest
    # of each poll is skipped, not timed out request by request.
    assert reads == [2, 1, 2]
    assert failed == [2, 1, 2]
    assert device.caution is Caution.AS_CONFIGURED
    setup.sim.faults.no_reply = False
    recovered = await device.poll()
    assert all(r.quality is Quality.GOOD for r in recovered.readings.values()), recovered.readings


async def test_a_device_silent_on_merged_reads_over_unmapped_registers_is_replanned(rig: RigFactory) -> None:
    # As the exception-2 case above, from a transmitter that answers such a read with silence instead.
    profile = shipped_modbus_profile("vegapuls-c21")
    values = vegapuls_values()
    setup = rig(profile, values, silent_on_unmapped=True)
    device = setup.device(params={"mounting_height_m": 6.0})
    first_plan = device.plan()
    result = await device.poll()
    assert all(r.quality is Quality.GOOD for r in result.readings.values()), result.readings
    assert device.caution > Caution.AS_CONFIGURED  # remembered for the next polls
    assert len(device.plan()) > len(first_plan)
    again = await device.poll()
    assert (again.requests, again.failed_requests) == (len(device.plan()), 0)
    assert all(r.quality is Quality.GOOD for r in again.readings.values())


async def test_an_absent_unit_times_out_within_the_deadline(rig: RigFactory) -> None:
    profile = shipped_modbus_profile("dfrobot-sen0676")
    setup = rig(profile, {"level": 1.0, "installation_height": 4.0})
    result = await setup.device(unit_id=99).poll()
    assert {r.reason for r in result.readings.values()} == {"timeout"}
    assert (
        result.duration_s < 5
    )  # bounded by the request timeout, not a hang (a sanity bound, not a speed test)


async def test_nan_and_inf_from_the_wire_are_bad_never_numbers(rig: RigFactory) -> None:
    profile = shipped_modbus_profile("vegapuls-c21")
    values = vegapuls_values()
    setup = rig(profile, values)
    setup.sim.faults.nan_channels = {"echo_amplitude"}
    setup.sim.faults.inf_channels = {"distance"}
    readings = (await setup.device(params={"mounting_height_m": 6.0}).poll()).readings
    assert (readings["echo_amplitude"].quality, readings["echo_amplitude"].reason) == (
        Quality.BAD,
        "not_a_number",
    )
    assert (readings["distance"].quality, readings["distance"].reason) == (Quality.BAD, "over_range")
    assert readings["distance"].value is None and not math.isnan(readings["level"].value or math.nan)


# Modbus TCP frames carry no CRC (TCP's own checksum protects them), so this is an RTU-only fault.
@pytest.mark.parametrize("rig", ["rtu-pty", "rtu-over-tcp"], indirect=True)
async def test_corrupted_rtu_frames_are_missing_and_the_device_recovers(rig: RigFactory) -> None:
    profile = shipped_modbus_profile("dfrobot-sen0676")
    setup = rig(profile, {"level": 1.0, "installation_height": 4.0})
    device = setup.device()
    setup.sim.faults.garbage_every = 1  # every reply's CRC is broken: the master must discard them all
    broken = await device.poll()
    assert {(r.quality, r.reason) for r in broken.readings.values()} == {(Quality.MISSING, "crc")}
    assert all("check baud rate, parity, termination" in (r.detail or "") for r in broken.readings.values())
    setup.sim.faults.garbage_every = 0
    assert (await device.poll()).readings["level"].value == 1.0
