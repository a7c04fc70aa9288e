"""The gap before each request is RTU timing: 3.5 character times on a serial line, none on Modbus TCP.

The shipped 20 ms default applied to Modbus TCP too, where the stack frames every message: it capped one
10-device TCP bus at 4.4 polls a second (issue 18).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drivers.modbus.bus import DEVICE_SERVER_GAP_S, ModbusBus
from pantau.profiles.modbus.profile import Table
from pantau.resilience import VirtualClock
from pantau.site.connections import BusConfig, BusTiming, SerialBusConfig, TcpBusConfig
from tests.harness.modbus import ModbusServerFactory, register_device

TCP = TcpBusConfig(transport="tcp", host="127.0.0.1", port=502)
SERVER = TcpBusConfig(transport="tcp", host="127.0.0.1", port=4001, framing="rtu")


def serial(baudrate: int, parity: str = "N", stopbits: int = 1) -> SerialBusConfig:
    return SerialBusConfig.model_validate(
        {
            "transport": "rtu",
            "port": "/dev/ttyUSB0",
            "baudrate": baudrate,
            "parity": parity,
            "stopbits": stopbits,
        }
    )


@pytest.mark.parametrize(
    ("config", "expected_s"),
    [
        (TCP, 0.0),
        (SERVER, DEVICE_SERVER_GAP_S),
        (serial(9600), 3.5 * 10 / 9600),  # 8N1: start, 8 data, stop
        (serial(9600, "E"), 3.5 * 11 / 9600),  # a parity bit more
        (serial(19200, "N", 2), 3.5 * 11 / 19200),
        (serial(115200), 0.00175),  # fixed above 19200 baud (Modbus serial line guide)
    ],
    ids=["tcp", "device-server", "9600-8N1", "9600-8E1", "19200-8N2", "115200"],
)
def test_the_default_gap_is_the_lines_own(config: BusConfig, expected_s: float) -> None:
    assert ModbusBus(config).inter_frame_delay_s == pytest.approx(expected_s)


@pytest.mark.parametrize("config", [TCP, SERVER, serial(9600)], ids=["tcp", "device-server", "serial"])
def test_a_gap_the_site_sets_is_kept_on_any_bus(config: BusConfig) -> None:
    timing = BusTiming(inter_frame_delay=timedelta(milliseconds=35))
    assert ModbusBus(config, timing).inter_frame_delay_s == pytest.approx(0.035)


@pytest.mark.parametrize("value", ["-5ms", "11s"])
def test_a_gap_out_of_reason_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="inter_frame_delay"):
        BusTiming.model_validate({"inter_frame_delay": value})


async def test_modbus_tcp_requests_follow_each_other_without_waiting(
    modbus_tcp_server: ModbusServerFactory,
) -> None:
    server = modbus_tcp_server([register_device(unit, holding={0: [unit] * 10}) for unit in (1, 2, 3)])
    clock = VirtualClock(datetime(2026, 12, 3, tzinfo=UTC))
    bus = ModbusBus(TcpBusConfig(transport="tcp", host=server.host, port=server.port), clock=clock)
    try:
        for _ in range(10):
            for unit in (1, 2, 3):
                assert await bus.read(Table.HOLDING, 0, 10, unit) == [unit] * 10
    finally:
        await bus.close()
    # Thirty requests: with a gap, 29 waits (0.58 s at the old 20 ms) would have passed on the clock.
    assert clock.monotonic() == 0.0
