"""The gateway's verdict on its own wall clock, so a wrong time is said out loud, not stamped on data.

Two signs the clock cannot be believed, each checkable on the box alone:

- **Before the release.** A wall clock earlier than the date this software was released is certainly
  wrong: a Raspberry Pi without an RTC booting at its last shutdown time (fake-hwclock) or at 1970, an
  RTC whose battery died, a GPS receiver after a week-number rollover (19.6 years back). `RELEASED` is a
  constant in the code, not the package's install date or a file's mtime: those change with how the
  software was copied onto the box, the constant never does. A stale one only makes the check weaker.
- **A step.** Wall time jumping against monotonic time by more than `step_bound` between two looks (NTP
  or a GPS fix setting the clock, an operator's `date -s`). Which side of a step is right the box cannot
  tell, so data stamped in the `settle` time after one is marked; a second step back within it is the
  usual sign the first was the glitch. NTP's slewing (at most 500 ppm) is allowed for, never a step.

While either holds, readings and vehicles carry quality `clock_skew` with the reason, and the gateway
status carries `clock` (`pantau.contract.GatewayClock`). A time ahead of the truth that the box cannot
see is the backend's to catch: it compares each message's time with its arrival.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Final

from pantau.contract import GatewayClock, Quality, Reading, Reason, Vehicle, format_utc
from pantau.contract.fields import EARLIEST_TIMESTAMP
from pantau.resilience import Clock

logger = logging.getLogger(__name__)

#: The day this version's source first existed (0.1.0): no build of it runs on a correct clock earlier.
#: Bump it with each release.
RELEASED: Final = datetime(2026, 11, 28, tzinfo=UTC)
#: A jump of wall time against monotonic time beyond this is a step (NTP steps from 128 ms; chrony's
#: makestep default is 1 s): ten seconds is a poll interval, below which a misdated reading misleads no rule.
STEP_BOUND: Final = timedelta(seconds=10)
#: How long data stays marked after a step.
SETTLE: Final = timedelta(minutes=10)
#: NTP slews the clock by at most 500 ppm: that much drift between two looks is not a step.
MAX_SLEW: Final = 500e-6


class ClockSanity:
    """Looks at the clock whenever data is stamped (`check`) and remembers the last step."""

    def __init__(
        self,
        clock: Clock,
        *,
        not_before: datetime = RELEASED,
        step_bound: timedelta = STEP_BOUND,
        settle: timedelta = SETTLE,
    ) -> None:
        self.clock = clock
        self.not_before = not_before
        self.step_bound = step_bound.total_seconds()
        self.settle = settle.total_seconds()
        self._offset: float | None = None  # wall minus monotonic at the last look
        self._looked_at = 0.0
        self._step_s: float | None = None
        self._stepped_at: datetime | None = None
        self._stepped_mono: float | None = None
        self._reason: str | None = None
        #: The verdict of the last look (None before the first): what metrics report between looks.
        self.last: GatewayClock | None = None
        #: Messages not stamped while the clock read before 2000 (`can_stamp`), since it last could.
        self.unstamped = 0
        self._unstampable_since: float | None = None

    def check(self) -> GatewayClock:
        """The clock's state now (logged once when it turns implausible and once when it recovers)."""
        wall, mono = self.clock.time(), self.clock.monotonic()
        offset = wall - mono
        if self._offset is not None:
            allowed = self.step_bound + MAX_SLEW * max(mono - self._looked_at, 0.0)
            if abs(offset - self._offset) > allowed:
                self._step_s = offset - self._offset
                self._stepped_at = _utc(wall)
                self._stepped_mono = mono
                logger.warning("wall clock stepped %+.1f s (now %s)", self._step_s, format_utc(_utc(wall)))
        self._offset, self._looked_at = offset, mono
        reason = self._implausible(wall, mono)
        if reason != self._reason:
            if reason is None:
                logger.warning("wall clock plausible again (now %s)", format_utc(_utc(wall)))
            else:
                logger.warning("wall clock implausible (%s): data is marked clock_skew", reason)
            self._reason = reason
        last = self.last
        # Looked at for every message: the verdict is made anew only when it changed (it is immutable).
        if last is None or (last.reason, last.step_s, last.stepped_at) != (
            reason,
            self._step_s,
            self._stepped_at,
        ):
            last = self.last = GatewayClock(
                plausible=reason is None,
                reason=reason,
                not_before=self.not_before,
                step_s=self._step_s,
                stepped_at=self._stepped_at,
            )
        return last

    def can_stamp(self, messages: int = 0) -> bool:
        """Whether the wall clock can stamp a message at all. Before 2000 (an RTC reset to 1970) no time
        the contract accepts can be written, so the gateway keeps running but sends nothing (`messages`
        are counted as dropped) until the clock is set; logged once when it starts and once when it ends."""
        wall = self.clock.time()
        if wall >= EARLIEST_TIMESTAMP.timestamp():
            if self._unstampable_since is not None:
                logger.warning(
                    "wall clock set (now %s): stamping again; %d message(s) were not sent meanwhile",
                    format_utc(_utc(wall)),
                    self.unstamped,
                )
                self._unstampable_since, self.unstamped = None, 0
            return True
        if self._unstampable_since is None:
            self._unstampable_since = wall
            logger.error(
                "wall clock reads %s, before %s: no message can be stamped; readings are dropped until "
                "the clock is set (NTP, GPS or an RTC)",
                _utc(wall).isoformat(),
                EARLIEST_TIMESTAMP.date(),
            )
        self.unstamped += messages
        return False

    def _implausible(self, wall: float, mono: float) -> str | None:
        if wall < self.not_before.timestamp():
            return Reason.CLOCK_BEFORE_RELEASE
        if self._stepped_mono is not None and mono - self._stepped_mono < self.settle:
            return Reason.CLOCK_STEPPED
        return None

    def readings(self, channels: dict[str, Reading], verdict: GatewayClock) -> dict[str, Reading]:
        """`channels` marked `clock_skew` when `verdict` says the clock is implausible."""
        if verdict.reason is None:
            return channels
        detail = _detail(verdict)
        return {name: reading.clock_skewed(verdict.reason, detail) for name, reading in channels.items()}

    def vehicle(self, vehicle: Vehicle, verdict: GatewayClock) -> Vehicle:
        """`vehicle` marked `clock_skew` when `verdict` says the clock is implausible."""
        if verdict.reason is None:
            return vehicle
        return vehicle.model_copy(update={"quality": Quality.CLOCK_SKEW, "reason": verdict.reason})


def dated(at: datetime | None) -> datetime | None:
    """`at`, or None when it was taken before the clock was set (before 2000): no time at all, and one the
    contract would refuse (a device's `since`, the gateway's `started_at` from a boot at 1970)."""
    return at if at is None or at >= EARLIEST_TIMESTAMP else None


def _detail(verdict: GatewayClock) -> str:
    if verdict.reason == Reason.CLOCK_BEFORE_RELEASE:
        return f"gateway clock earlier than the software's release {format_utc(verdict.not_before)}"
    if verdict.step_s is None or verdict.stepped_at is None:
        return "gateway clock stepped"
    return f"gateway clock stepped {verdict.step_s:+.0f} s at {format_utc(verdict.stepped_at)}"


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
