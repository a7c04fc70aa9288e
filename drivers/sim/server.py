"""Serving simulated Modbus devices over TCP or a serial port (a real tty or a VirtualCable end)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from drivers.sim.modbus_device import Faults, SimulatedModbusDevice, absent_units
from pantau.profiles.modbus.profile import SerialDefaults


def tcp_server(devices: Sequence[SimulatedModbusDevice], host: str, port: int) -> ModbusTcpServer:
    """A Modbus TCP server for `devices` (unit ids nobody serves never answer, as on a real bus)."""
    return ModbusTcpServer(
        [d.sim_device() for d in devices] + [absent_units()],
        address=(host, port),
        ignore_missing_devices=True,
        trace_packet=_tamper(devices),
    )


def serial_server(
    devices: Sequence[SimulatedModbusDevice], port: Path, settings: SerialDefaults
) -> ModbusSerialServer:
    """A Modbus RTU server on a serial port, several devices sharing it like an RS-485 line."""
    return ModbusSerialServer(
        [d.sim_device() for d in devices] + [absent_units()],
        port=str(port),
        baudrate=settings.baudrate,
        parity=settings.parity,
        stopbits=settings.stopbits,
        bytesize=settings.bytesize,
        ignore_missing_devices=True,
        trace_packet=_tamper(devices),
    )


def _tamper(devices: Sequence[SimulatedModbusDevice]) -> Callable[[bool, bytes], bytes]:
    faults: list[Faults] = [d.faults for d in devices]

    def hook(sending: bool, packet: bytes) -> bytes:  # noqa: FBT001 - pymodbus' signature
        for fault in faults:
            packet = fault.tamper(sending, packet)
        return packet

    return hook
