"""Capped, jittered exponential back-off that cannot overflow however long an outage lasts.

"Full jitter" (a uniform draw between 0 and the capped exponential), which spreads a fleet of gateways
reconnecting after a broker restart instead of having them knock in step. Why not tenacity or stamina:
both retry one call a bounded number of times; pantau's loops reconnect for as long as the process runs,
log an outage once, and must take an injected clock, so they need only the delay, which is this.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """The wait before the next attempt after `attempts` failures in a row."""

    base: float = 0.5
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    #: Failures in a row so far (0 after `reset`).
    attempts: int = 0

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.cap >= 0 and math.isfinite(self.base) and math.isfinite(self.cap)):
            raise ValueError(f"back-off needs base > 0 and a finite cap >= 0, not {self.base}, {self.cap}")
        # Past this exponent base·2^n is above the cap anyway; stopping there keeps 2^n a small float.
        self._top = max(0, math.ceil(math.log2(max(self.cap, self.base) / self.base)) + 1)

    def ceiling(self, attempt: int) -> float:
        """The longest wait after `attempt` failures in a row: min(cap, base·2^attempt)."""
        return min(self.cap, self.base * 2.0 ** min(max(attempt, 0), self._top))

    def delay(self, attempt: int) -> float:
        """A wait drawn uniformly from [0, ceiling(attempt)]."""
        return self.rng.uniform(0.0, self.ceiling(attempt))

    def next_delay(self) -> float:
        """Count one more failure; the wait before trying again."""
        self.attempts += 1
        return self.delay(self.attempts)

    def reset(self) -> None:
        """The dependency answered: the next failure starts from the base again."""
        self.attempts = 0
