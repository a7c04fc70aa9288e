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
        self.last = GatewayClock(
            plausible=reason is None,
            reason=reason,
            not_before=self.not_before,
            step_s=self._step_s,
            stepped_at=self._stepped_at,
        )
        return self.last

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


def _detail(verdict: GatewayClock) -> str:
    if verdict.reason == Reason.CLOCK_BEFORE_RELEASE:
        return f"gateway clock earlier than the software's release {format_utc(verdict.not_before)}"
    if verdict.step_s is None or verdict.stepped_at is None:
        return "gateway clock stepped"
    return f"gateway clock stepped {verdict.step_s:+.0f} s at {format_utc(verdict.stepped_at)}"


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
