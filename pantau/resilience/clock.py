"""One clock: wall time, monotonic time and sleep, passed to every component that waits or stamps a time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Final, Protocol


class Clock(Protocol):
    """What a component may ask of time. Wall time can step (NTP, a wrong RTC); monotonic time never does,
    so durations, deadlines and back-off use `monotonic`, and only timestamps and grids use wall time."""

    def time(self) -> float:
        """Wall time, seconds since the epoch."""
        ...

    def now(self) -> datetime:
        """Wall time as an aware UTC datetime (what messages are stamped with)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (negative counts as 0)."""
        ...


class SystemClock:
    """The machine's clocks and asyncio's sleep."""

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK: Final[Clock] = SystemClock()
