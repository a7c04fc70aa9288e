"""One Modbus bus (a serial line, a TCP device, or a serial server): serialised requests, timeouts,
inter-frame delay, reconnection with capped jittered back-off.

Modbus TCP goes through pymodbus' client (its transaction ids match replies to requests). RTU, on a serial
port or through a serial device server, goes through pantau's own master in `rtu.py`, whose line
discipline never takes a late reply for the answer to the next request. The exception tree is in
`errors.py` (re-exported here).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse as PduExceptionResponse
from pymodbus.pdu import ModbusPDU

from drivers.modbus.errors import (
    BusError,
    CrcError,
    ExceptionResponse,
    FramingError,
    RequestTimeout,
    TransportError,
    describe_exception,
)
from drivers.modbus.rtu import LineCounters, RtuLine, char_time, frame_gap, open_serial, open_tcp, quiet_time
from pantau.aio import guarded
from pantau.profiles.modbus.profile import Table
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage
from pantau.site.connections import BusTiming, SerialBusConfig, TcpBusConfig

__all__ = [
    "BusError",
    "CrcError",
    "ExceptionResponse",
    "FramingError",
    "ModbusBus",
    "RequestTimeout",
    "TransportError",
]

logger = logging.getLogger(__name__)
# pymodbus logs every timeout at ERROR; the bus logs failures once when they start and once on recovery.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

BACKOFF_BASE_S: Final = 0.5
#: The gap before each request through a serial device server (`framing: rtu`) unless the site says: its
#: serial side's baud rate is not ours to know, and many such servers pass frames on without spacing them.
DEVICE_SERVER_GAP_S: Final = 0.02
_FUNCTION_CODES: Final = {Table.COILS: 1, Table.DISCRETE_INPUTS: 2, Table.HOLDING: 3, Table.INPUT: 4}


class ModbusBus:
    """Serialises all requests of one bus behind one lock, as a shared RS-485 line requires."""

    def __init__(
        self,
        config: TcpBusConfig | SerialBusConfig,
        timing: BusTiming | None = None,
        *,
        name: str = "bus",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.timing = timing or BusTiming()
        self.name = name
        self._clock = clock
        self._lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | None = None
        self._line: RtuLine | None = None
        #: What the RTU line discipline threw away (stays zero on Modbus TCP, where ids match replies).
        self.line_counters = LineCounters()
        self._last_frame_end = 0.0
        #: Silence kept before each request (seconds): see `inter_frame_delay_s`.
        self.inter_frame_delay_s = inter_frame_delay_s(config, self.timing)
        self._backoff = Backoff(base=BACKOFF_BASE_S, cap=self.timing.backoff_cap.total_seconds())
        self._outage = Outage(f"bus {name} ({self.describe})", logger, clock)
        self._retry_at = 0.0

    @property
    def describe(self) -> str:
        """Where the bus is, with its line settings: what a technician checks first."""
        if isinstance(self.config, TcpBusConfig):
            return f"{self.config.host}:{self.config.port} ({self.config.framing})"
        c = self.config
        return f"{c.port} {c.baudrate} {c.bytesize}{c.parity}{c.stopbits}"

    @property
    def is_rtu(self) -> bool:
        return isinstance(self.config, SerialBusConfig) or self.config.framing == "rtu"

    async def read(self, table: Table, address: int, count: int, unit_id: int) -> list[int]:
        """Registers (or bits as 0/1) [address, address+count) of `unit_id`; raises a BusError subclass."""
        async with self._lock:
            await self._respect_inter_frame_delay()
            try:
                return await self._read(table, address, count, unit_id)
            finally:
                self._last_frame_end = self._clock.monotonic()

    async def _read(self, table: Table, address: int, count: int, unit_id: int) -> list[int]:
        attempts = self.timing.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                if self.is_rtu:
                    return await self._rtu_read(table, address, count, unit_id)
                return await self._tcp_read(table, address, count, unit_id)
            except (RequestTimeout, CrcError) as exc:
                if attempt == attempts:
                    raise type(exc)(self._explain(unit_id, exc)) from exc
            except ExceptionResponse as exc:
                message = f"unit {unit_id} on {self.name}: {describe_exception(exc.code)} for {table} read"
                raise ExceptionResponse(exc.code, message) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _explain(self, unit_id: int, exc: BusError) -> str:
        """The failure with where it happened; what to check next is the device's to say (it knows the
        unit's history)."""
        where = f"unit {unit_id} on {self.name} ({self.describe})"
        if isinstance(exc, CrcError):
            return f"{where}: reply failed its CRC check: check baud rate, parity, termination and grounding"
        return f"{where}: no reply within {self.timing.timeout.total_seconds():g} s"

    async def _rtu_read(self, table: Table, address: int, count: int, unit_id: int) -> list[int]:
        line = await self._connected_line()
        timeout = self.timing.timeout.total_seconds()
        try:
            return await line.read(unit_id, _FUNCTION_CODES[table], address, count, timeout)
        except TransportError as exc:
            await self._drop_connection(str(exc))
            raise

    async def _tcp_read(self, table: Table, address: int, count: int, unit_id: int) -> list[int]:
        client = await self._connected_client()
        timeout = self.timing.timeout.total_seconds()
        try:
            # pymodbus has its own timeout; ours bounds the whole call whatever pymodbus does.
            async with asyncio.timeout(timeout * 1.5 + 0.5):
                response = await guarded(_request(client, table, address, count, unit_id))
        except (TimeoutError, ModbusIOException) as exc:
            # A reply that arrives after we gave up would be taken for the answer to the next request on this
            # connection; a fresh connection guarantees it never is.
            client.close()
            self._client = None
            raise RequestTimeout(f"unit {unit_id}: no reply within {timeout:g} s") from exc
        except ConnectionException as exc:
            await self._drop_connection(str(exc))
            raise TransportError(f"{self.name}: connection lost ({exc})") from exc
        except ModbusException as exc:
            raise RequestTimeout(f"unit {unit_id}: {exc}") from exc
        return _registers(response, table, count, unit_id)

    async def _respect_inter_frame_delay(self) -> None:
        if not self.inter_frame_delay_s:
            return  # Modbus TCP: the stack frames every message; nothing to wait for
        wait = self._last_frame_end + self.inter_frame_delay_s - self._clock.monotonic()
        if wait > 0:
            await self._clock.sleep(wait)

    def _check_backoff(self) -> None:
        now = self._clock.monotonic()
        if now < self._retry_at:
            raise TransportError(
                f"{self.name}: {self.describe} unavailable, next attempt in {self._retry_at - now:.1f} s"
            )

    async def _connected_line(self) -> RtuLine:
        if self._line is not None and self._line.open:
            return self._line
        if self._line is not None:
            await self._drop_connection("connection closed by the other end")
        self._check_backoff()
        timeout = self.timing.timeout.total_seconds()
        try:
            if isinstance(self.config, TcpBusConfig):
                reader, writer = await open_tcp(self.config.host, self.config.port, timeout + 1)
                character_s = 0.0  # the serial side of a device server is not ours to time
            else:
                c = self.config
                reader, writer = await open_serial(c.port, c, timeout + 1)
                character_s = char_time(c.baudrate, c.bytesize, c.parity, c.stopbits)
        except TransportError as exc:
            self._note_failure(str(exc))
            raise TransportError(f"{self.name}: {exc}") from exc
        window = self.timing.late_reply_window
        if window is None:
            window = self.timing.timeout
        self._line = RtuLine(
            reader,
            writer,
            name=self.name,
            quiet_s=max(quiet_time(character_s), self.inter_frame_delay_s),
            late_reply_window_s=window.total_seconds(),
            counters=self.line_counters,
        )
        self._note_recovery()
        return self._line

    async def _connected_client(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._check_backoff()
        assert isinstance(self.config, TcpBusConfig)  # noqa: S101 - RTU buses never get here
        client = AsyncModbusTcpClient(
            self.config.host,
            port=self.config.port,
            framer=FramerType.SOCKET,
            timeout=self.timing.timeout.total_seconds(),
            retries=0,
            reconnect_delay=0,
            name=self.name,
        )
        try:
            async with asyncio.timeout(self.timing.timeout.total_seconds() + 1):
                connected = await guarded(client.connect())
        except (TimeoutError, OSError, ModbusException) as exc:
            connected = False
            detail = str(exc) or type(exc).__name__
        except asyncio.CancelledError:
            client.close()  # stopping: no half-open client left behind
            raise
        else:
            detail = "refused or port unavailable"
        if not connected:
            client.close()
            self._note_failure(detail)
            raise TransportError(f"{self.name}: cannot open {self.describe}: {detail}")
        self._client = client
        self._note_recovery()
        return client

    def _note_failure(self, detail: str) -> None:
        self._retry_at = self._clock.monotonic() + self._backoff.next_delay()
        self._outage.failed(detail)

    def _note_recovery(self) -> None:
        self._outage.recovered()
        self._backoff.reset()
        self._retry_at = 0.0

    async def _drop_connection(self, detail: str) -> None:
        await self._close_transport()
        self._note_failure(detail)

    async def _close_transport(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._line is not None:
            line, self._line = self._line, None
            await line.close()

    async def close(self) -> None:
        async with self._lock:
            await self._close_transport()


def inter_frame_delay_s(config: TcpBusConfig | SerialBusConfig, timing: BusTiming) -> float:
    """The silence before each request: the site's `inter_frame_delay` if it sets one; otherwise 3.5
    character times at a serial port's line settings (the RTU frame gap), DEVICE_SERVER_GAP_S through a
    serial device server, and none on Modbus TCP, whose stack frames every message (a 20 ms gap there
    capped a 10-device bus at 4.4 polls a second)."""
    if timing.inter_frame_delay is not None:
        return timing.inter_frame_delay.total_seconds()
    if isinstance(config, SerialBusConfig):
        return frame_gap(char_time(config.baudrate, config.bytesize, config.parity, config.stopbits))
    return DEVICE_SERVER_GAP_S if config.framing == "rtu" else 0.0


async def _request(
    client: AsyncModbusTcpClient, table: Table, address: int, count: int, unit_id: int
) -> ModbusPDU:
    if table is Table.HOLDING:
        return await client.read_holding_registers(address, count=count, device_id=unit_id)
    if table is Table.INPUT:
        return await client.read_input_registers(address, count=count, device_id=unit_id)
    if table is Table.COILS:
        return await client.read_coils(address, count=count, device_id=unit_id)
    return await client.read_discrete_inputs(address, count=count, device_id=unit_id)


def _registers(response: ModbusPDU, table: Table, count: int, unit_id: int) -> list[int]:
    if isinstance(response, PduExceptionResponse) or response.isError():
        code = int(getattr(response, "exception_code", 0))
        raise ExceptionResponse(code, f"unit {unit_id}: {describe_exception(code)} for {table} read")
    if table.is_bits:
        bits = list(response.bits)[:count]
        if len(bits) != count:
            raise FramingError(f"unit {unit_id}: reply had {len(bits)} bits, asked for {count}")
        return [int(b) for b in bits]
    registers = list(response.registers)
    if len(registers) != count:
        raise FramingError(f"unit {unit_id}: reply had {len(registers)} registers, asked for {count}")
    return registers
