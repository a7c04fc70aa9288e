"""The stream driver over real I/O: a socat pty pair (a virtual RS-232 cable) and real TCP sockets, with
garbage on the line, dropped connections, dead links and a device that appears late."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import serial

from drivers.serial_records import (
    RecordStream,
    StreamCounters,
    VehicleRecord,
    encode_record,
    encode_weight_frame,
)
from pantau.profiles.records.layouts import WeightStatus
from pantau.profiles.records.profile import RecordProfile
from pantau.resilience import VirtualClock
from pantau.site.connections import SerialEndpoint, TcpEndpoint
from tests.drivers.serial_records.test_cases import CASES, expected_records
from tests.harness.serial_pty import SocatPtyPair

pytestmark = pytest.mark.services

#: Fast link timings so reconnect tests take a fraction of a second.
FAST: dict[str, Any] = {
    "connect_timeout": "2s",
    "read_timeout": "5s",
    "backoff_base": "50ms",
    "backoff_cap": "200ms",
}
DEADLINE = 15.0  # seconds; generous for a loaded CI machine, never reached when things work
T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@contextlib.asynccontextmanager
async def running(stream: RecordStream) -> AsyncIterator[asyncio.Queue[VehicleRecord]]:
    """Run the driver as a task for the block; its records arrive on the queue."""
    queue: asyncio.Queue[VehicleRecord] = asyncio.Queue()
    task = asyncio.create_task(stream.run(queue.put), name=f"records[{stream.name}]")
    try:
        yield queue
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises anything the driver died of


async def take(queue: asyncio.Queue[VehicleRecord], count: int) -> list[VehicleRecord]:
    async with asyncio.timeout(DEADLINE):
        return [await queue.get() for _ in range(count)]


async def eventually(stream: RecordStream, check: Callable[[StreamCounters], bool]) -> None:
    """Wait, under a deadline, until the driver's counters satisfy `check`."""
    async with asyncio.timeout(DEADLINE):
        await stream.wait_until(check)


def serial_stream(profile: RecordProfile, port: Path) -> RecordStream:
    return RecordStream(profile, SerialEndpoint(kind="serial", port=str(port), **FAST), name="pty")


def write_in_pieces(port: serial.Serial, data: bytes, size: int = 7) -> None:
    """Write like a slow device: small pieces, so frames arrive split across reads."""
    for start in range(0, len(data), size):
        port.write(data[start : start + size])
    port.flush()


def wim_line(profile: RecordProfile, record_id: str, minute: int = 4) -> bytes:
    record = VehicleRecord(
        ts=T0 + timedelta(minutes=minute),
        source="wim",
        record_id=record_id,
        lane=1,
        direction="1",
        gvw_kg=18220,
    )
    return encode_record(record, profile)


# Serial (socat pty pair) --------------------------------------------------------------------------------


async def test_the_mixed_case_replayed_over_a_serial_line(
    pty_pair: SocatPtyPair, wim_profile: RecordProfile
) -> None:
    stream = serial_stream(wim_profile, pty_pair.host_end)
    expected = expected_records("generic-wim-csv-mixed")
    async with running(stream) as records:
        async with asyncio.timeout(DEADLINE):
            await stream.wait_connected()
        with serial.Serial(str(pty_pair.device_end), baudrate=9600) as device:
            write_in_pieces(device, (CASES / "generic-wim-csv-mixed" / "input.bin").read_bytes())
            received = await take(records, len(expected))
            await eventually(stream, lambda c: c.malformed == 5)
    assert received == expected
    counters = stream.counters
    assert (counters.frames, counters.records, counters.checksum_failures) == (7, 3, 3)
    assert counters.last_malformed is not None
    assert counters.last_malformed.raw.startswith(b"9" * 100)  # the oversize line, bounded
    assert len(counters.last_malformed.raw) == 200


async def test_a_weighing_over_a_serial_line(pty_pair: SocatPtyPair, r320_profile: RecordProfile) -> None:
    # All frames arrive within milliseconds here, so stability is judged by sample count alone.
    assert r320_profile.weighing is not None
    weighing = r320_profile.weighing.model_copy(update={"stable_time": timedelta(0)})
    profile = r320_profile.model_copy(update={"weighing": weighing})
    frames = [(0, WeightStatus.GROSS)] * 5 + [(15000, WeightStatus.MOTION), (29000, WeightStatus.MOTION)]
    frames += (
        [(31640, WeightStatus.GROSS)] * 12 + [(9000, WeightStatus.MOTION)] + [(0, WeightStatus.GROSS)] * 5
    )
    stream = serial_stream(profile, pty_pair.host_end)
    async with running(stream) as records:
        async with asyncio.timeout(DEADLINE):
            await stream.wait_connected()
        with serial.Serial(str(pty_pair.device_end), baudrate=9600) as device:
            noise = b"\x00\xff\r\n"
            write_in_pieces(
                device, noise + b"".join(encode_weight_frame(w, s, profile) for w, s in frames), 5
            )
            (weighing_record,) = await take(records, 1)
            await eventually(stream, lambda c: c.samples == len(frames))  # the weighing ends mid-stream
    assert weighing_record.source == "weighbridge"
    assert weighing_record.gvw_kg == 31640
    assert stream.counters.samples == len(frames)
    assert stream.counters.skipped_bytes >= len(noise)
    assert stream.counters.malformed == 0


async def test_the_serial_port_vanishing_and_coming_back(
    pty_pair: SocatPtyPair, wim_profile: RecordProfile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drivers.serial_records.stream")
    stream = serial_stream(wim_profile, pty_pair.host_end)
    async with running(stream) as records:
        async with asyncio.timeout(DEADLINE):
            await stream.wait_connected()
        with serial.Serial(str(pty_pair.device_end)) as device:
            device.write(wim_line(wim_profile, "1"))
            assert [r.record_id for r in await take(records, 1)] == ["1"]
        pty_pair.stop()  # the USB adapter is unplugged: the port and its device node disappear
        await eventually(stream, lambda c: c.link_failures >= 2)  # lost it, then failed to reopen
        pty_pair.start()
        await eventually(stream, lambda c: c.connects == 2 and c.connected)
        with serial.Serial(str(pty_pair.device_end)) as device:
            device.write(wim_line(wim_profile, "2"))
            assert [r.record_id for r in await take(records, 1)] == ["2"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "reconnecting" in r.message]
    recoveries = [r for r in caplog.records if "receiving again after" in r.message]
    assert len(warnings) == 1  # once when the failure started, not on every attempt
    assert len(recoveries) == 1


# TCP ----------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def tcp_device(
    handler: Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Any], port: int = 0
) -> AsyncIterator[int]:
    """A TCP device on 127.0.0.1; `handler(n, reader, writer)` serves the n-th connection (1-based)."""
    connections = 0
    finished = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            await handler(connections, reader, writer)
            if not writer.is_closing():
                await finished.wait()  # hold the connection until the test is done
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        finished.set()
        server.close()
        await server.wait_closed()


def tcp_stream(profile: RecordProfile, port: int, **timings: Any) -> RecordStream:
    endpoint = TcpEndpoint(kind="tcp", host="127.0.0.1", port=port, **(FAST | timings))
    return RecordStream(profile, endpoint, name="tcp")


async def test_records_over_tcp_survive_garbage_and_a_dropped_connection(
    wim_profile: RecordProfile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drivers.serial_records.stream")

    async def serve(connection: int, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connection == 1:
            # Garbage, one record, then half a record and the serial server drops the connection.
            writer.write(
                b"\x00\x13garbage\r\n" + wim_line(wim_profile, "1") + wim_line(wim_profile, "2")[:25]
            )
            await writer.drain()
            writer.close()
        else:
            writer.write(wim_line(wim_profile, "3"))
            await writer.drain()

    async with tcp_device(serve) as port:
        stream = tcp_stream(wim_profile, port)
        async with running(stream) as records:
            received = await take(records, 2)
    assert [record.record_id for record in received] == ["1", "3"]  # record 2 was cut by the drop
    counters = stream.counters
    assert (counters.connects, counters.link_failures, counters.malformed) == (2, 1, 1)
    assert counters.skipped_bytes >= 25  # the half record, dropped at the reconnect
    assert counters.last_malformed is not None
    assert counters.last_malformed.raw == b"\x00\x13garbage"
    failures = [r for r in caplog.records if r.levelno == logging.WARNING and "reconnecting" in r.message]
    assert len(failures) == 1
    assert "connection closed by the other end" in failures[0].message
    assert len([r for r in caplog.records if "receiving again after" in r.message]) == 1


async def test_a_silent_weighbridge_link_is_reopened(r320_profile: RecordProfile) -> None:
    profile = r320_profile.model_copy(update={"silence_timeout": timedelta(milliseconds=300)})

    async def serve(_: int, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_weight_frame(0, WeightStatus.GROSS, profile))  # then nothing: a half-open link
        await writer.drain()

    async with tcp_device(serve) as port:
        stream = tcp_stream(profile, port)
        async with running(stream):
            await eventually(stream, lambda c: c.connects >= 2 and c.samples >= 2)
    assert stream.counters.last_error == "no data for 0.3 s"
    assert stream.counters.samples >= 2


async def test_a_device_that_is_not_there_yet(wim_profile: RecordProfile) -> None:
    async with tcp_device(lambda *_: asyncio.sleep(0)) as port:
        pass  # now nothing listens on `port`
    stream = tcp_stream(wim_profile, port)
    async with running(stream) as records:
        await eventually(stream, lambda c: c.link_failures >= 2)
        assert stream.counters.failing_since is not None
        assert stream.counters.last_error is not None
        assert "cannot open 127.0.0.1" in stream.counters.last_error

        async def serve(_: int, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(wim_line(wim_profile, "7"))
            await writer.drain()

        async with tcp_device(serve, port):
            assert [r.record_id for r in await take(records, 1)] == ["7"]
    assert stream.counters.failing_since is None


async def test_a_failing_consumer_stops_the_driver_loudly(wim_profile: RecordProfile) -> None:
    async def serve(_: int, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(wim_line(wim_profile, "1"))
        await writer.drain()

    async def broken_sink(record: VehicleRecord) -> None:
        raise RuntimeError(f"outbox full for {record.record_id}")

    async with tcp_device(serve) as port:
        stream = tcp_stream(wim_profile, port)
        with pytest.raises(RuntimeError, match="outbox full for 1"):
            async with asyncio.timeout(DEADLINE):
                await stream.run(broken_sink)
    assert not stream.counters.connected


# Pure parts of the driver -------------------------------------------------------------------------------


async def test_malformed_frames_are_logged_at_most_once_a_minute(
    wim_profile: RecordProfile, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock(T0, quiet_s=0)
    endpoint = TcpEndpoint(kind="tcp", host="127.0.0.1", port=9)
    stream = RecordStream(wim_profile, endpoint, name="wim-1", clock=clock)
    with caplog.at_level(logging.WARNING, logger="drivers.serial_records.stream"):
        for _ in range(3):
            stream.feed(b"junk\r\n", T0)
        await clock.advance(61)
        stream.feed(b"more junk\r\n", T0)
    messages = [record.message for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("wim-1: malformed frame: checksum:")
    assert "b'more junk'" in messages[1]
    assert "(and 2 more since the last report)" in messages[1]
    assert stream.counters.malformed == 4
