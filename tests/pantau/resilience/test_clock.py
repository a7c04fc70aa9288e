"""The clocks: the system one, and virtual time that runs days in moments while real I/O still happens."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from pantau.resilience import SYSTEM_CLOCK, Outage, VirtualClock

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


async def test_the_system_clock_is_the_machines() -> None:
    assert abs(SYSTEM_CLOCK.time() - time.time()) < 1
    assert SYSTEM_CLOCK.now().tzinfo is UTC
    before = SYSTEM_CLOCK.monotonic()
    await SYSTEM_CLOCK.sleep(-1)  # a negative wait is no wait
    assert SYSTEM_CLOCK.monotonic() - before < 0.5


async def test_a_week_of_virtual_sleeps_takes_a_moment_in_order() -> None:
    clock = VirtualClock(START)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, every: float, times: int) -> None:
        for _ in range(times):
            await clock.sleep(every)
            woke.append((name, clock.monotonic()))

    started = time.monotonic()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(sleeper("hourly", 3600, 24 * 7))
        tasks.create_task(sleeper("daily", 86_400, 7))
    assert time.monotonic() - started < 10  # a week, virtually
    assert clock.now() == START + timedelta(days=7)
    assert [t for _n, t in woke] == sorted(t for _n, t in woke)
    assert [t for n, t in woke if n == "daily"] == [86_400.0 * d for d in range(1, 8)]


@pytest.mark.services  # a loopback echo server
async def test_real_io_finishes_before_virtual_time_jumps_past_it() -> None:
    """A loopback round trip inside a virtual wait is not cut short: asyncio's timeouts stay real."""
    clock = VirtualClock(START)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def ticker() -> None:
        for _ in range(1000):
            await clock.sleep(60)

    async def round_trips() -> int:
        done = 0
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            async with asyncio.timeout(5):
                assert await reader.readexactly(4) == b"ping"
            writer.close()
            await writer.wait_closed()
            done += 1
        return done

    async with server, asyncio.TaskGroup() as tasks:
        tasks.create_task(ticker())
        trips = tasks.create_task(round_trips())
    assert trips.result() == 20
    assert clock.monotonic() == 60_000


async def test_wall_time_steps_and_slews_while_monotonic_time_does_not() -> None:
    clock = VirtualClock(START)
    await clock.advance(10)
    clock.step_wall(-3600)  # NTP corrects a box that booted an hour ahead
    assert clock.now() == START + timedelta(seconds=10) - timedelta(hours=1)
    assert clock.monotonic() == 10
    clock.slew(1.0005)  # and then slews it by 500 ppm
    await clock.advance(1000)
    assert clock.monotonic() == 1010
    assert clock.time() == pytest.approx((START.timestamp() - 3600 + 10) + 1000 * 1.0005)


async def test_a_cancelled_sleeper_does_not_hold_time_back() -> None:
    clock = VirtualClock(START)
    stuck = asyncio.create_task(clock.sleep(10_000))
    await asyncio.sleep(0)
    stuck.cancel()
    await clock.advance(5)
    assert clock.monotonic() == 5
    await clock.aclose()


async def test_an_outage_is_logged_once_down_and_once_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock(START, quiet_s=0)  # no I/O here to wait for
    outage = Outage("broker 127.0.0.1:1883", logging.getLogger("test.outage"), clock)
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(10_000):
            outage.failed("connection refused")
            await clock.advance(60)
        lasted = outage.recovered()
        assert outage.recovered() is None  # once
    assert lasted == 600_000
    assert [r.getMessage() for r in caplog.records] == [
        "broker 127.0.0.1:1883 down: connection refused",
        "broker 127.0.0.1:1883 back after 6.9 days (10000 failed attempts; first: connection refused)",
    ]
