"""A Modbus RTU master on one byte stream: a serial port (RS-485 adapter) or a TCP serial device server.

Why not pymodbus' RTU client: RTU has no transaction id, and pymodbus hands whatever frame arrives while a
request is pending to that request. Simple device firmware still answers after the master gave up; its
late reply then became the answer to the next request, and with two reads of the same shape (one register
each) a wrong value was published as `good`. The line discipline here makes that impossible:

* Before a request the line is ours only when nothing is owed on it: after any failed exchange (timeout,
  CRC error, wrong reply) the master listens for `late_reply_window` (default: the request timeout, as
  libmodbus' error recovery does) and then until the line has been quiet for `quiet` (3.5 character times,
  at least QUIET_FLOOR_S for USB adapters and serial servers that deliver bytes in bursts), bounded by
  SETTLE_CAP_FACTOR so a babbling line cannot hold the bus. Everything heard then is thrown away: frames
  are counted against the unit that sent them (`late_replies`), the rest as `noise_bytes`.
* Whatever is already buffered when a request goes out is thrown away and counted the same way.
* A reply is taken only when its unit, function and byte count match the request and its CRC is right.
  A CRC-valid frame that does not match is discarded and counted, and the master waits on for its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import termios
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import serial_asyncio_fast

from drivers.modbus.errors import CrcError, ExceptionResponse, RequestTimeout, TransportError
from drivers.modbus.rtu_frame import (
    EXCEPTION_BIT,
    MAX_DATA_BYTES,
    crc_ok,
    data_bytes,
    find_frames,
    read_request,
    unpack,
)
from pantau.profiles.base import SerialSettings

logger = logging.getLogger(__name__)

#: The shortest quiet time that proves a line silent: USB adapters and serial servers deliver bytes in
#: bursts a few milliseconds apart, so 3.5 character times at 115200 baud (0.3 ms) would end a frame early.
QUIET_FLOOR_S: Final = 0.02
#: A line that never goes quiet is given up on after this many late-reply windows (and logged).
SETTLE_CAP_FACTOR: Final = 3
_CHUNK: Final = 4096
#: Exceptions 5 (acknowledge) and 6 (busy): the device is working on something and may still answer.
STILL_WORKING: Final = frozenset({5, 6})
_CLOSE_TIMEOUT_S: Final = 2.0


def char_time(baudrate: int, bytesize: int, parity: str, stopbits: int) -> float:
    """Seconds one character takes on the line: start bit, data bits, parity bit, stop bits."""
    return (1 + bytesize + (parity != "N") + stopbits) / baudrate


def frame_gap(character_s: float) -> float:
    """The silence the Modbus serial line guide puts between frames: 3.5 characters, 1.75 ms fixed above
    19200 baud."""
    return 0.00175 if character_s < 11 / 19200 else 3.5 * character_s


def quiet_time(character_s: float) -> float:
    """The silence that proves a frame over when listening: the frame gap, never under QUIET_FLOOR_S."""
    return max(frame_gap(character_s), QUIET_FLOOR_S)


@dataclass
class LineCounters:
    """What the line threw away since it was made, for device status and metrics."""

    #: CRC-valid frames nobody was waiting for (a late reply, a reply of the wrong shape), by unit.
    late_replies: Counter[int] = field(default_factory=Counter)
    #: Bytes that were no frame at all: noise, a baud rate or parity mismatch, A/B swapped.
    noise_bytes: int = 0
    #: Replies of the right shape with a wrong CRC, by unit.
    crc_errors: Counter[int] = field(default_factory=Counter)


class RtuLine:
    """One open RTU byte stream. Not locked: the bus that owns it serialises every exchange."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        name: str,
        quiet_s: float,
        late_reply_window_s: float,
        counters: LineCounters,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.name = name
        self.quiet_s = quiet_s
        self.late_reply_window_s = late_reply_window_s
        self.counters = counters
        self._owed = False  # an exchange failed: a reply may still be on its way
        self._sent_at = 0.0
        self._failed_at = 0.0
        self._crc_failed = False
        self._late_units_logged: set[int] = set()

    @property
    def open(self) -> bool:
        return not self._writer.is_closing() and not self._reader.at_eof()

    async def read(self, unit: int, function: int, address: int, count: int, timeout_s: float) -> list[int]:
        """One request and its reply: registers or bits; raises a BusError subclass."""
        if self._owed:
            await self.settle()
        await self._take_buffered()
        self._writer.write(read_request(unit, function, address, count))
        loop = asyncio.get_running_loop()
        self._sent_at = loop.time()
        self._owed = True
        self._crc_failed = False  # a frame from `unit` of the right shape but a wrong CRC was heard
        try:
            async with asyncio.timeout(timeout_s):
                await self._writer.drain()
                data = await self._reply(unit, function, data_bytes(function, count))
        except TimeoutError:
            self._failed_at = loop.time()
            if self._crc_failed:
                self.counters.crc_errors[unit] += 1
                raise CrcError(f"unit {unit}: reply failed its CRC check") from None
            raise RequestTimeout(f"unit {unit}: no reply within {timeout_s:g} s") from None
        except BaseException:
            self._failed_at = loop.time()
            raise
        self._owed = False
        return unpack(function, data, count)

    async def _reply(self, unit: int, function: int, byte_count: int) -> bytes:
        """The data of the reply from `unit` to `function`.

        Hunts byte by byte, as a receiver on a noisy line must: bytes that start no frame are noise, a
        CRC-valid frame that does not match is discarded (counted), and the master waits on.
        """
        buffer = bytearray()

        async def need(size: int) -> None:
            if len(buffer) < size:
                buffer.extend(await self._exactly(size - len(buffer)))

        while True:
            await need(3)
            length = _reply_length(buffer, function)
            if length is not None:
                await need(length)
                if crc_ok(buffer[:length]):
                    frame = bytes(buffer[:length])
                    del buffer[:length]
                    if frame[0] == unit and (frame[1] != function or frame[2] == byte_count):
                        break
                    self._count_late(frame[0])
                    continue
                if buffer[0] == unit:
                    self._crc_failed = True
            del buffer[0]  # no frame starts here: hunt on from the next byte
            self.counters.noise_bytes += 1
        if buffer:  # more than one reply to one request: nothing after it can be an answer
            self._account(bytes(buffer), late_by=None)
        if frame[1] & EXCEPTION_BIT:
            # Acknowledge and busy mean the device is still at work on something: a reply may follow.
            self._owed = frame[2] in STILL_WORKING
            raise ExceptionResponse(frame[2], f"unit {unit}: exception {frame[2]}")
        return frame[3:-2]

    async def settle(self) -> None:
        """Listen out a failed exchange (module docstring); throw away and count everything heard."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        # The window runs from the failure: a request long after it only needs the buffer emptied.
        listen_until = self._failed_at + self.late_reply_window_s
        give_up_at = started + SETTLE_CAP_FACTOR * max(self.late_reply_window_s, self.quiet_s)
        heard = bytearray()
        last_byte_at: float | None = None
        while True:
            quiet_until = (last_byte_at or started) + self.quiet_s
            until = max(listen_until, quiet_until)
            if loop.time() >= until:
                break
            if loop.time() >= give_up_at:
                logger.warning("%s: the line never went quiet; sending anyway", self.name)
                break
            try:
                async with asyncio.timeout_at(min(until, give_up_at)):
                    chunk = await self._reader.read(_CHUNK)
            except TimeoutError:
                continue
            if not chunk:
                raise TransportError(f"{self.name}: connection closed by the other end")
            heard += chunk
            last_byte_at = loop.time()
        self._owed = False
        self._account(bytes(heard), late_by=None if last_byte_at is None else last_byte_at - self._sent_at)

    async def _take_buffered(self) -> None:
        """Throw away what arrived while nobody asked (a reply later than even the late-reply window)."""
        await asyncio.sleep(0)  # let the transport hand over what the OS already holds
        stray = bytearray()
        while True:
            try:
                # A zero timeout: take what is buffered, never wait for more.
                async with asyncio.timeout(0):
                    chunk = await self._reader.read(_CHUNK)
            except TimeoutError:
                break
            if not chunk:
                raise TransportError(f"{self.name}: connection closed by the other end")
            stray += chunk
        if stray:
            self._account(bytes(stray), late_by=None)

    async def _exactly(self, size: int) -> bytes:
        try:
            return await self._reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            raise TransportError(f"{self.name}: connection closed by the other end") from exc

    def _account(self, heard: bytes, late_by: float | None) -> None:
        frames, noise = find_frames(heard)
        self.counters.noise_bytes += noise
        for frame in frames:
            self._count_late(frame.unit, late_by)
        if noise:
            logger.debug("%s: %d bytes of noise discarded", self.name, noise)

    def _count_late(self, unit: int, late_by: float | None = None) -> None:
        self.counters.late_replies[unit] += 1
        if unit in self._late_units_logged:
            return
        self._late_units_logged.add(unit)
        when = f" {late_by:.2f} s after the request" if late_by is not None else ""
        logger.warning(
            "%s: a reply from unit %d arrived%s when no request of its was waiting: discarded, never "
            "decoded (a device answering later than the timeout: raise the bus timeout or late_reply_window)",
            self.name,
            unit,
            when,
        )

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self._writer.wait_closed()


async def open_serial(
    port: str, line: SerialSettings, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a serial port for RTU; every way the port can refuse becomes a TransportError that says so."""
    settings = f"{port} at {line.baudrate} {line.bytesize}{line.parity}{line.stopbits}"
    try:
        async with asyncio.timeout(timeout_s):
            return await serial_asyncio_fast.open_serial_connection(
                url=port,
                baudrate=line.baudrate,
                parity=line.parity,
                stopbits=line.stopbits,
                bytesize=line.bytesize,
                exclusive=True,  # a second master on one RS-485 line corrupts both
            )
    except termios.error as exc:
        # Not an OSError: the driver refused a setting (a pty refuses parity, some adapters odd bauds).
        why = exc.args[-1] if exc.args else exc
        raise TransportError(f"cannot open {settings}: the port refused these settings ({why})") from exc
    except (OSError, ValueError, TimeoutError) as exc:
        raise TransportError(f"cannot open {settings}: {exc or type(exc).__name__}") from exc


async def open_tcp(
    host: str, port: int, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a serial device server (RTU framing over TCP)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        raise TransportError(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc


def _reply_length(head: bytearray, function: int) -> int | None:
    """The length of the reply frame starting at `head` (3 bytes at least), None when none starts there."""
    if head[1] == function | EXCEPTION_BIT:
        return 5
    if head[1] == function and head[2] <= MAX_DATA_BYTES:
        return 5 + head[2]
    return None
