"""Token buckets per client, on the kit's clock (monotonic time: a wall-clock step neither frees nor locks
anyone). Memory is bounded: at most `max_clients` buckets; the least recently seen is forgotten first,
which at worst hands a forgotten client a full bucket again.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from backend.config.api import RateLimit
from pantau.resilience import Clock


class RateLimiter:
    def __init__(self, limit: RateLimit, clock: Clock, max_clients: int) -> None:
        self.burst = float(limit.burst)
        self.per_second = limit.per_minute / 60.0
        self.clock = clock
        self.max_clients = max_clients
        #: client -> (tokens, monotonic time they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, client: str) -> float:
        now = self.clock.monotonic()
        tokens, counted = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - counted) * self.per_second)
        self._buckets[client] = (tokens, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return tokens

    def blocked(self, client: str) -> int | None:
        """Whole seconds until `client` may call again (for Retry-After), or None if it may now."""
        tokens = self._tokens(client)
        if tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.per_second))

    def spend(self, client: str) -> None:
        """Count one call against `client` (a bucket never goes below empty)."""
        tokens = self._tokens(client)
        self._buckets[client] = (max(0.0, tokens - 1.0), self.clock.monotonic())

    def take(self, client: str) -> int | None:
        """Spend one call if the bucket allows it: None; else the seconds to wait, nothing spent."""
        wait = self.blocked(client)
        if wait is None:
            self.spend(client)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)
