"""pymodbus servers (the real protocol stack) on their own event loop in a background thread.

A thread keeps the server independent of the test's event loop, so sync tests, async tests and CLI
subprocesses can all talk to it. Devices are described with pymodbus' SimDevice/SimData (3.16 API).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Self

import yaml
from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.profiles import load_profile
from drivers.sim.modbus_device import absent_units
from pantau.profiles.files import PROFILE_DIR
from pantau.profiles.modbus.profile import ModbusProfile
from tests.harness.process import free_port, port_open, wait_until

# pymodbus rejects an empty block list; a never-read cell at the top of the address space stands in.
_UNUSED_ADDRESS = 65535


def register_device(
    device_id: int,
    *,
    holding: dict[int, Sequence[int]] | None = None,
    inputs: dict[int, Sequence[int]] | None = None,
    coils: dict[int, Sequence[bool]] | None = None,
    discrete: dict[int, Sequence[bool]] | None = None,
) -> SimDevice:
    """A device whose four tables hold exactly the given raw values at those addresses.

    Raw 16-bit words (not typed values) so tests control byte and word order precisely. Addresses not
    given answer with exception 2 (illegal data address), as real devices do.
    """

    def words(table: dict[int, Sequence[int]] | None) -> list[SimData]:
        blocks = [
            SimData(address=address, values=list(values), datatype=DataType.REGISTERS)
            for address, values in sorted((table or {}).items())
        ]
        return blocks or [SimData(address=_UNUSED_ADDRESS, datatype=DataType.INVALID)]

    def bits(table: dict[int, Sequence[bool]] | None) -> list[SimData]:
        blocks = [
            SimData(address=address, values=list(values), datatype=DataType.BITS)
            for address, values in sorted((table or {}).items())
        ]
        return blocks or [SimData(address=_UNUSED_ADDRESS, values=[False], datatype=DataType.BITS)]

    return SimDevice(id=device_id, simdata=(bits(coils), bits(discrete), words(holding), words(inputs)))


class ModbusServerThread:
    """Serve `devices` over Modbus TCP (`tcp=True`) or RTU on a serial port (`serial_port=...`)."""

    def __init__(
        self,
        devices: list[SimDevice],
        *,
        serial_port: Path | None = None,
        baudrate: int = 9600,
        rtu_over_tcp: bool = False,
        trace_packet: Callable[[bool, bytes], bytes] | None = None,
    ) -> None:
        self.trace_packet = trace_packet
        self.framer = FramerType.RTU if rtu_over_tcp else FramerType.SOCKET
        # Unit ids nobody serves stay silent (a timeout), as on a real bus.
        self.devices = devices if any(d.id == 0 for d in devices) else [*devices, absent_units()]
        self.serial_port = serial_port
        self.baudrate = baudrate
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="modbus-server", daemon=True)
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    def start(self) -> None:
        self._thread.start()
        started: Future[None] = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        started.result(timeout=10)
        if self.serial_port is None and not wait_until(lambda: port_open(self.host, self.port), 10):
            raise RuntimeError(f"pymodbus TCP server did not listen on {self.host}:{self.port}")

    async def _serve(self) -> None:
        if self.serial_port is None:
            # An absent unit id gets no reply at all, as on a real bus (not pymodbus' default exception 4).
            self._server = ModbusTcpServer(
                self.devices,
                address=(self.host, self.port),
                ignore_missing_devices=True,
                framer=self.framer,
                trace_packet=self.trace_packet,
            )
        else:
            self._server = ModbusSerialServer(
                self.devices,
                port=str(self.serial_port),
                baudrate=self.baudrate,
                timeout=1,
                ignore_missing_devices=True,
                trace_packet=self.trace_packet,
            )
        await self._server.serve_forever(background=True)

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(timeout=10)
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


#: What the `modbus_tcp_server` / `modbus_serial_server` fixtures hand a test: devices in, running server out.
ModbusServerFactory = Callable[[list[SimDevice]], ModbusServerThread]


def shipped_modbus_profile(profile_id: str) -> ModbusProfile:
    """A shipped Modbus profile by id (`vegapuls-c21`), for tests."""
    profile = load_profile(PROFILE_DIR / f"{profile_id}.yaml")
    assert isinstance(profile, ModbusProfile), f"{profile_id} is not a Modbus profile"
    return profile


def vegapuls_values() -> dict[str, float | str]:
    """The VEGAPULS C 21 device values of the first poll of its decoding case."""
    case = yaml.safe_load((Path(__file__).parents[1] / "drivers/modbus/cases/vegapuls-c21.yaml").read_text())
    values: dict[str, float | str] = case["polls"][0]["device"]
    return values
