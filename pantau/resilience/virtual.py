"""Virtual time: a clock whose sleeps end as soon as the event loop has nothing else to do.

A 72-hour broker outage or a week-dead device then runs in seconds, with the real components doing real
I/O (to mosquitto, to a pymodbus server). Only the kit's time is virtual: asyncio's own timeouts stay real,
so a socket that takes a real millisecond to answer is never timed out by a jump of virtual time.

Time moves when every runnable task has run and the loop has been quiet for a real moment (QUIET_S, long
enough for a loopback reply or a thread to land); it then jumps to the earliest sleeper's deadline. The
wall clock can be stepped (NTP correcting a wrong RTC) and slewed (NTP nudging it) independently of
monotonic time, as a real machine's can.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from datetime import UTC, datetime
from typing import Final

#: Real seconds the loop must be quiet before virtual time jumps.
QUIET_S: Final = 0.002
_SPINS: Final = 20


class VirtualClock:
    """A `Clock` for tests and simulations; see the module docstring."""

    def __init__(self, start: datetime, *, quiet_s: float = QUIET_S) -> None:
        self._monotonic = 0.0
        self._wall_at_zero = start.timestamp()
        self._wall_rate = 1.0
        self._quiet_s = quiet_s
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def time(self) -> float:
        return self._wall_at_zero + self._monotonic * self._wall_rate

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def monotonic(self) -> float:
        return self._monotonic

    def step_wall(self, seconds: float) -> None:
        """Step wall time by `seconds` (either way), as `ntpdate` or a GPS fix does; monotonic runs on."""
        self._wall_at_zero += seconds

    def slew(self, rate: float) -> None:
        """From now on, wall time runs at `rate` times monotonic time (NTP slews by up to 500 ppm)."""
        wall = self.time()
        self._wall_rate = rate
        self._wall_at_zero = wall - self._monotonic * rate

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._monotonic + seconds, next(self._order), wake))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive(), name="virtual-clock")
        try:
            await wake
        finally:
            wake.cancel()  # a cancelled sleeper is skipped when its turn comes

    async def advance(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass (the caller sleeps on the clock like any component)."""
        await self.sleep(seconds)

    async def _drive(self) -> None:
        while self._sleepers:
            await self._settle()
            if not self._sleepers:
                return
            deadline, _order, wake = heapq.heappop(self._sleepers)
            if wake.done():
                continue
            self._monotonic = max(self._monotonic, deadline)
            wake.set_result(None)

    async def _settle(self) -> None:
        # Every runnable task runs first; then real I/O in flight gets a real moment to land.
        for _ in range(_SPINS):
            await asyncio.sleep(0)
        if self._quiet_s > 0:
            await asyncio.sleep(self._quiet_s)
            for _ in range(_SPINS):
                await asyncio.sleep(0)

    async def aclose(self) -> None:
        """Stop the driver (the sleepers left are abandoned with their tasks)."""
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
