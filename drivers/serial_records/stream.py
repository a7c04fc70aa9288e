"""The asyncio record-stream driver: a serial port or TCP socket -> framer -> parser -> `VehicleRecord`s.

`RecordStream.run(on_record)` reads until cancelled. Every read and open is under `asyncio.timeout`. A
transport error (OSError, EOF, timeout, silence beyond the profile's `silence_timeout`) closes the link and
reopens it after the kit's capped, jittered back-off (`pantau.resilience.Backoff`), where the attempt counts
attempts since the link last delivered data. A failure is logged once when it starts and once when data
flows again, with how long it lasted. Malformed frames are counted (in total and by reason), kept
(`counters.last_malformed`), handed to the `on_reject` callback as a `Reject` (reason, field, excerpt: the
gateway samples them to the backend) and logged at most once a minute; they never stop the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, NoReturn

import serial_asyncio_fast

from drivers.serial_records.errors import ChecksumMismatch, MalformedRecord, excerpt
from drivers.serial_records.framing import BadFrame, make_framer
from drivers.serial_records.parser import RecordParser
from drivers.serial_records.records import VehicleRecord
from drivers.serial_records.rejects import Reject, classify
from drivers.serial_records.weighbridge import SampleParser, Weighbridge
from pantau.profiles.records.layouts import WeightStreamLayout
from pantau.profiles.records.profile import RecordProfile
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock
from pantau.site.connections import SerialEndpoint, TcpEndpoint

logger = logging.getLogger(__name__)

#: Bytes asked for per read: a few records; the framer copes with any split.
READ_SIZE: Final = 4096
#: Closing must not hang a reconnect (a serial server that stopped answering).
CLOSE_TIMEOUT: Final = 2.0
#: Malformed frames are logged at most this often (seconds); the counters hold every one.
MALFORMED_LOG_INTERVAL: Final = 60.0

RecordSink = Callable[[VehicleRecord], Awaitable[None]]
#: Sees every refused frame as it is counted; synchronous (it runs inside `feed`), so it must not block.
RejectSink = Callable[[Reject], None]
#: The name the counters used before rejects carried a reason and a field.
MalformedReport = Reject


@dataclass(slots=True)
class StreamCounters:
    """Totals since the driver started (for DeviceStatus and metrics); `malformed` includes checksum
    failures and framing errors (oversize, missing end marker)."""

    bytes_received: int = 0
    frames: int = 0
    records: int = 0
    samples: int = 0
    malformed: int = 0
    checksum_failures: int = 0
    skipped_bytes: int = 0
    aborted_weighings: int = 0
    connects: int = 0
    link_failures: int = 0
    connected: bool = False
    failing_since: datetime | None = None
    last_error: str | None = None
    last_malformed: Reject | None = None
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    last_record_at: datetime | None = None


class RecordStream:
    """One device's record stream. Construct from a profile and an endpoint; `run` until cancelled::

    stream = RecordStream(profile, TcpEndpoint(kind="tcp", host="10.0.0.7", port=4001), name="wim-1")
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(stream.run(publish_vehicle), name="records[wim-1]")
    """

    def __init__(
        self,
        profile: RecordProfile,
        endpoint: SerialEndpoint | TcpEndpoint,
        *,
        name: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        on_reject: RejectSink | None = None,
    ) -> None:
        self.profile = profile
        self.endpoint = endpoint
        self.name = name or endpoint.describe()
        self.counters = StreamCounters()
        self._clock = clock
        self._backoff = Backoff(
            base=endpoint.backoff_base.total_seconds(),
            cap=endpoint.backoff_cap.total_seconds(),
            rng=rng or random.Random(),  # noqa: S311 (jitter, not cryptography)
        )
        self._framer = make_framer(profile.framing)
        self._weighbridge: Weighbridge | None = None
        self._decode = self._decoder(profile)
        self._failing_since_mono: float | None = None
        self._malformed_logged_at: float | None = None
        self._malformed_unlogged = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._on_reject = on_reject

    # The pure pipeline: usable without I/O (replaying captured bytes, tests).

    def feed(self, chunk: bytes, received_at: datetime) -> list[VehicleRecord]:
        """Bytes as they arrived -> the records they complete; bad frames are counted (and handed to
        `on_reject`), never raised."""
        records = []
        for event in self.feed_events(chunk, received_at):
            if isinstance(event, Reject):
                self._rejected(event)
            else:
                records.append(event)
        return records

    def feed_events(self, chunk: bytes, received_at: datetime) -> list[VehicleRecord | Reject]:
        """Bytes as they arrived -> the records and rejects they complete, in frame order, counted (the
        caller hands rejects on: `feed` and the link do)."""
        self.counters.bytes_received += len(chunk)
        records: list[VehicleRecord | Reject] = []
        for item in self._framer.feed(chunk):
            if isinstance(item, BadFrame):
                reject = Reject(received_at, "framing", None, item.problem, item.raw, len(item.raw))
                records.append(self._malformed(reject))
                continue
            self.counters.frames += 1
            try:
                record = self._decode(item.payload, received_at)
            except MalformedRecord as exc:
                if isinstance(exc, ChecksumMismatch):
                    self.counters.checksum_failures += 1
                reason = classify(exc, weight_stream=self._weighbridge is not None)
                raw = excerpt(exc.raw or item.payload)
                size = len(item.payload)
                records.append(
                    self._malformed(Reject(received_at, reason, exc.field, exc.describe(), raw, size))
                )
            else:
                if record is not None:
                    self.counters.records += 1
                    self.counters.last_record_at = received_at
                    records.append(record)
        self.counters.skipped_bytes = self._framer.skipped_bytes
        self._changed()
        return records

    def _decoder(self, profile: RecordProfile) -> Callable[[bytes, datetime], VehicleRecord | None]:
        """Frame -> record: parse directly, or (weight streams) parse a sample and run the weighbridge."""
        if not isinstance(profile.format, WeightStreamLayout) or profile.weighing is None:
            records = RecordParser(profile)
            return lambda payload, received_at: records.parse(payload, received_at=received_at)
        samples, weighbridge = SampleParser(profile), Weighbridge(profile.weighing)
        self._weighbridge = weighbridge

        def weigh(payload: bytes, received_at: datetime) -> VehicleRecord | None:
            sample = samples.parse(payload)
            self.counters.samples += 1
            try:
                return weighbridge.feed(received_at, sample)
            finally:
                self.counters.aborted_weighings = weighbridge.aborted

        return weigh

    def _malformed(self, reject: Reject) -> Reject:
        by_reason = self.counters.rejects_by_reason
        self.counters.malformed += 1
        by_reason[reject.reason] = by_reason.get(reject.reason, 0) + 1
        self.counters.last_malformed = reject
        return reject

    def _rejected(self, reject: Reject) -> None:
        """Hand a counted reject on, and log it (at most once a minute: the counters hold every one)."""
        if self._on_reject is not None:
            self._on_reject(reject)
        problem, raw = reject.problem, reject.raw
        now = self._clock.monotonic()
        if self._malformed_logged_at is not None and now - self._malformed_logged_at < MALFORMED_LOG_INTERVAL:
            self._malformed_unlogged += 1
            return
        more = (
            f" (and {self._malformed_unlogged} more since the last report)"
            if self._malformed_unlogged
            else ""
        )
        logger.warning("%s: malformed frame: %s; raw %r%s", self.name, problem, raw, more)
        self._malformed_logged_at = now
        self._malformed_unlogged = 0

    # The link.

    async def wait_until(self, predicate: Callable[[StreamCounters], bool]) -> None:
        """Return once `predicate(counters)` holds, re-checked at every change of the link or the counters
        (start-up ordering, health checks and tests, without polling). Combine with `asyncio.timeout`."""
        while not predicate(self.counters):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    async def wait_connected(self) -> None:
        """Return once the port/socket is open."""
        await self.wait_until(lambda counters: counters.connected)

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def run(self, on_record: RecordSink) -> NoReturn:
        """Read records forever, handing each to `on_record`; reconnects on transport errors."""
        while True:
            try:
                reader, writer = await self._open()
            except (OSError, TimeoutError) as exc:
                self._link_failed(f"cannot open {self.endpoint.describe()}: {_why(exc)}")
            else:
                delivered = False
                try:
                    reason, delivered = await self._pump(reader, on_record)
                except (OSError, TimeoutError) as exc:
                    reason = f"read failed: {_why(exc)}"
                finally:
                    await self._close(writer)
                if delivered:
                    self._backoff.reset()  # the link worked: the next failure starts the back-off afresh
                self._link_failed(reason)
            await self._clock.sleep(self._backoff.next_delay())

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        endpoint = self.endpoint
        async with asyncio.timeout(endpoint.connect_timeout.total_seconds()):
            if isinstance(endpoint, TcpEndpoint):
                opened = await asyncio.open_connection(endpoint.host, endpoint.port)
                _detect_dead_peer(opened[1])
            else:
                line = endpoint.line_settings(self.profile.serial)
                opened = await serial_asyncio_fast.open_serial_connection(
                    url=endpoint.port,
                    baudrate=line.baudrate,
                    parity=line.parity,
                    stopbits=line.stopbits,
                    bytesize=line.bytesize,
                    exclusive=True,  # a second reader on one port would steal bytes from both
                )
        self.counters.connects += 1
        self.counters.connected = True
        self._changed()
        logger.debug("%s: connected", self.name)
        return opened

    async def _pump(self, reader: asyncio.StreamReader, on_record: RecordSink) -> tuple[str, bool]:
        """Read until the link ends; returns why it ended and whether it delivered any bytes."""
        silence = self.profile.silence_timeout
        read_timeout = (silence or self.endpoint.read_timeout).total_seconds()
        delivered = False
        while True:
            try:
                async with asyncio.timeout(read_timeout):
                    chunk = await reader.read(READ_SIZE)
            except TimeoutError:
                if silence is not None:
                    return f"no data for {silence.total_seconds():g} s", delivered
                continue  # a quiet road at night is not a broken link
            if not chunk:
                return "connection closed by the other end", delivered
            if not delivered:
                delivered = True
                self._link_recovered()
            # In frame order, so a commissioning printout shows a reject where it arrived among vehicles.
            for event in self.feed_events(chunk, self._clock.now()):
                if isinstance(event, Reject):
                    self._rejected(event)
                else:
                    await on_record(event)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        self.counters.connected = False
        # Bytes of a half-received frame will never be completed, and a weighing in progress cannot end.
        self._framer.reset()
        self.counters.skipped_bytes = self._framer.skipped_bytes
        if self._weighbridge is not None:
            self._weighbridge.reset()
            self.counters.aborted_weighings = self._weighbridge.aborted
        self._changed()
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await writer.wait_closed()

    def _link_failed(self, reason: str) -> None:
        self.counters.link_failures += 1
        self.counters.last_error = reason
        if self._failing_since_mono is None:
            self._failing_since_mono = self._clock.monotonic()
            self.counters.failing_since = self._clock.now()
            logger.warning("%s: %s; reconnecting with back-off", self.name, reason)
        else:
            logger.debug("%s: still failing: %s", self.name, reason)
        self._changed()

    def _link_recovered(self) -> None:
        if self._failing_since_mono is None:
            return
        lasted = timedelta(seconds=self._clock.monotonic() - self._failing_since_mono)
        logger.info(
            "%s: receiving again after %.1f s (%s)",
            self.name,
            lasted.total_seconds(),
            self.counters.last_error,
        )
        self._failing_since_mono = None
        self.counters.failing_since = None
        self._changed()


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _detect_dead_peer(writer: asyncio.StreamWriter) -> None:
    """TCP keepalive: a serial server that lost power leaves a half-open socket that would otherwise look
    healthy for ever (a WIM controller may be silent for minutes at night, so silence alone proves nothing).
    Probes after 60 s idle, every 15 s, 4 misses: a dead peer is noticed within about 2 minutes."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
        if hasattr(socket, option):  # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
