"""Log a failing dependency once when it goes down and once when it comes back, not on every attempt."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pantau.resilience.clock import SYSTEM_CLOCK, Clock


@dataclass
class Outage:
    """One dependency's outage state: `failed` on every failed attempt, `recovered` on the first success."""

    what: str
    logger: logging.Logger
    clock: Clock = SYSTEM_CLOCK
    #: Monotonic time the current outage began (None: up).
    since: float | None = None
    #: Failed attempts in the current outage.
    attempts: int = 0
    #: The first failure's detail, for status messages.
    detail: str | None = None

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, detail: str) -> None:
        self.attempts += 1
        if self.since is None:
            self.since = self.clock.monotonic()
            self.detail = detail
            self.logger.warning("%s down: %s", self.what, detail)

    def recovered(self) -> float | None:
        """Log the end of an outage (how long, how many attempts); its length in seconds, or None."""
        if self.since is None:
            return None
        lasted = self.clock.monotonic() - self.since
        self.logger.info(
            "%s back after %s (%d failed attempts; first: %s)",
            self.what,
            _duration(lasted),
            self.attempts,
            self.detail,
        )
        self.since, self.attempts, self.detail = None, 0, None
        return lasted


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"
