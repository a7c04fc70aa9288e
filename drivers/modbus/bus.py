"""One Modbus bus (a serial line, a TCP device, or a serial server): serialised requests, timeouts,
inter-frame delay, reconnection with capped jittered back-off.

    BusError
     ├── RequestTimeout       no (valid) reply in time: CRC/framing errors on RTU also end up here
     ├── ExceptionResponse    the device answered with a Modbus exception code
     ├── FramingError         a reply that does not fit the request (wrong length)
     └── TransportError       cannot open/keep the port or connection; the bus reconnects with back-off
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Final, Literal

from pydantic import Field
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse as PduExceptionResponse
from pymodbus.pdu import ModbusPDU

from drivers.modbus.config import SerialDefaults, Table
from drivers.profile_base import ProfileModel
from pantau.aio import raise_swallowed_cancellation
from pantau.config import Duration
from pantau.contract import Reason

logger = logging.getLogger(__name__)
# pymodbus logs every timeout at ERROR; the bus logs failures once when they start and once on recovery.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

BACKOFF_BASE_S: Final = 0.5


class BusError(Exception):
    """A request on the bus failed; `reason` is the contract reason code for the affected channels."""

    reason = "bus"


class RequestTimeout(BusError):
    reason = "timeout"


class ExceptionResponse(BusError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def reason(self) -> str:  # type: ignore[override]
        return Reason.modbus_exception(self.code)


class FramingError(BusError):
    reason = "framing"


class TransportError(BusError):
    reason = "connection"


class TcpBusConfig(ProfileModel):
    """Modbus TCP, or RTU framing through a serial device server (`framing: rtu`)."""

    transport: Literal["tcp"]
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=502, ge=1, le=65535)
    framing: Literal["socket", "rtu"] = "socket"


class SerialBusConfig(SerialDefaults):
    """Modbus RTU on a serial port (an RS-485 adapter such as /dev/ttyUSB0)."""

    transport: Literal["rtu"]
    port: str = Field(min_length=1, max_length=256)


class BusTiming(ProfileModel):
    timeout: Duration = Field(default=timedelta(seconds=1), description="Per request")
    inter_frame_delay: Duration = Field(
        default=timedelta(milliseconds=20), description="Silence between requests"
    )
    # 0 by default: on a shared bus a retry doubles what a dead device costs the others, and the next poll
    # is seconds away anyway. Raise it for a noisy line where single frames get lost.
    retries: int = Field(default=0, ge=0, le=5, description="Repeats of a request that timed out")
    backoff_cap: Duration = Field(
        default=timedelta(seconds=60), description="Longest wait between reconnects"
    )


BusConfig = Annotated[TcpBusConfig | SerialBusConfig, Field(discriminator="transport")]
Client = AsyncModbusTcpClient | AsyncModbusSerialClient


class ModbusBus:
    """Serialises all requests of one bus behind one lock, as a shared RS-485 line requires."""

    def __init__(
        self,
        config: TcpBusConfig | SerialBusConfig,
        timing: BusTiming | None = None,
        *,
        name: str = "bus",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.timing = timing or BusTiming()
        self.name = name
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._client: Client | None = None
        self._last_frame_end = 0.0
        self._failures = 0
        self._retry_at = 0.0
        self._down_since: float | None = None

    @property
    def describe(self) -> str:
        if isinstance(self.config, TcpBusConfig):
            return f"{self.config.host}:{self.config.port} ({self.config.framing})"
        c = self.config
        return f"{c.port} {c.baudrate} {c.bytesize}{c.parity}{c.stopbits}"

    async def read(self, table: Table, address: int, count: int, unit_id: int) -> list[int]:
        """Registers (or bits as 0/1) [address, address+count) of `unit_id`; raises a BusError subclass."""
        async with self._lock:
            client = await self._connected_client()
            await self._respect_inter_frame_delay()
            try:
                return await self._read(client, table, address, count, unit_id)
            finally:
                self._last_frame_end = self._monotonic()

    async def _read(self, client: Client, table: Table, address: int, count: int, unit_id: int) -> list[int]:
        timeout = self.timing.timeout.total_seconds()
        attempts = self.timing.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                # pymodbus has its own timeout; ours bounds the whole call whatever pymodbus does.
                async with asyncio.timeout(timeout * 1.5 + 0.5):
                    response = await _request(client, table, address, count, unit_id)
            except (TimeoutError, ModbusIOException) as exc:
                self._forget_late_reply(client)
                if attempt == attempts:
                    raise RequestTimeout(
                        f"unit {unit_id}: no reply within {timeout:g} s on {self.name}"
                    ) from exc
                client = await self._connected_client()
                continue
            except ConnectionException as exc:
                await self._drop_connection(str(exc))
                raise TransportError(f"{self.name}: connection lost ({exc})") from exc
            except ModbusException as exc:
                raise RequestTimeout(f"unit {unit_id}: {exc}") from exc
            raise_swallowed_cancellation()
            return _registers(response, table, count, unit_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _forget_late_reply(self, client: Client) -> None:
        # On TCP a reply that arrives after we gave up would be taken for the answer to the next request;
        # a fresh connection guarantees it never is. (On a serial line pymodbus drops stale bytes itself.)
        if isinstance(self.config, TcpBusConfig):
            client.close()
            self._client = None

    async def _respect_inter_frame_delay(self) -> None:
        wait = self._last_frame_end + self.timing.inter_frame_delay.total_seconds() - self._monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _connected_client(self) -> Client:
        if self._client is not None and self._client.connected:
            return self._client
        now = self._monotonic()
        if now < self._retry_at:
            raise TransportError(
                f"{self.name}: {self.describe} unavailable, next attempt in {self._retry_at - now:.1f} s"
            )
        client = self._make_client()
        try:
            async with asyncio.timeout(self.timing.timeout.total_seconds() + 1):
                connected = await client.connect()
        except (TimeoutError, OSError, ModbusException) as exc:
            connected = False
            detail = str(exc) or type(exc).__name__
        else:
            detail = "refused or port unavailable"
        try:
            raise_swallowed_cancellation()
        except asyncio.CancelledError:
            client.close()
            raise
        if not connected:
            client.close()
            self._note_failure(detail)
            raise TransportError(f"{self.name}: cannot open {self.describe}: {detail}")
        self._client = client
        self._note_recovery()
        return client

    def _make_client(self) -> Client:
        timeout = self.timing.timeout.total_seconds()
        if isinstance(self.config, TcpBusConfig):
            framer = FramerType.RTU if self.config.framing == "rtu" else FramerType.SOCKET
            return AsyncModbusTcpClient(
                self.config.host,
                port=self.config.port,
                framer=framer,
                timeout=timeout,
                retries=0,
                reconnect_delay=0,
                name=self.name,
            )
        c = self.config
        return AsyncModbusSerialClient(
            c.port,
            baudrate=c.baudrate,
            parity=c.parity,
            stopbits=c.stopbits,
            bytesize=c.bytesize,
            timeout=timeout,
            retries=0,
            reconnect_delay=0,
            name=self.name,
        )

    def _note_failure(self, detail: str) -> None:
        self._failures += 1
        cap = self.timing.backoff_cap.total_seconds()
        self._retry_at = self._monotonic() + random.uniform(0, min(cap, BACKOFF_BASE_S * 2**self._failures))  # noqa: S311 - jitter, not crypto
        if self._down_since is None:
            self._down_since = self._monotonic()
            logger.warning("bus %s (%s) down: %s", self.name, self.describe, detail)

    def _note_recovery(self) -> None:
        if self._down_since is not None:
            logger.info(
                "bus %s (%s) back after %.1f s",
                self.name,
                self.describe,
                self._monotonic() - self._down_since,
            )
        self._failures = 0
        self._retry_at = 0.0
        self._down_since = None

    async def _drop_connection(self, detail: str) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._note_failure(detail)

    async def close(self) -> None:
        async with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


async def _request(client: Client, table: Table, address: int, count: int, unit_id: int) -> ModbusPDU:
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
        raise ExceptionResponse(code, f"unit {unit_id}: exception code {code} for {table} read")
    if table.is_bits:
        bits = list(response.bits)[:count]
        if len(bits) != count:
            raise FramingError(f"unit {unit_id}: reply had {len(bits)} bits, asked for {count}")
        return [int(b) for b in bits]
    registers = list(response.registers)
    if len(registers) != count:
        raise FramingError(f"unit {unit_id}: reply had {len(registers)} registers, asked for {count}")
    return registers
