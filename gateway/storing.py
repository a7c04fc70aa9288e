"""Storing into the outbox when its disk may be full: an outage of the outbox, never a crash.

A field gateway whose disk fills (logs, a stuck update, a worn card) must keep running: it keeps publishing
what the outbox already holds and keeps polling. A cycle it cannot store is counted as dropped
(`Outbox.count_unstored`: dropped_total and unstored_total, in gateway status and metrics), the outage is
logged once when it begins and once when it ends, and storing is tried again on the kit's back-off; cycles
that arrive before the next try are counted without touching the disk. Once space returns, the next try
succeeds and storing resumes by itself.
"""

from __future__ import annotations

import logging
from typing import Final

from gateway.outbox import Builder, Outbox, OutboxError, OutboxMessage
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage

logger = logging.getLogger(__name__)

#: A failed store costs little (SQLite gives up at once), and every cycle between tries is lost: retry soon,
#: and never wait longer than a few poll intervals once space is back.
RETRY_BASE_S: Final = 0.25
RETRY_CAP_S: Final = 2.0


class OutboxWriter:
    """Appends poll cycles to the outbox; a refused write is counted as dropped and retried with back-off."""

    def __init__(self, outbox: Outbox, clock: Clock = SYSTEM_CLOCK) -> None:
        self.outbox = outbox
        self._clock = clock
        self._outage = Outage(f"outbox {outbox.path}", logger, clock)
        self._backoff = Backoff(base=RETRY_BASE_S, cap=RETRY_CAP_S)
        #: Monotonic time of the next try while the outbox refuses writes (None: storing normally).
        self._retry_at: float | None = None

    @property
    def down(self) -> bool:
        return self._outage.down

    async def append(self, batch: list[Builder]) -> list[OutboxMessage] | None:
        """Store `batch` durably: the stored messages, or None when it was counted as dropped instead."""
        if self._retry_at is not None and self._clock.monotonic() < self._retry_at:
            self.outbox.count_unstored(len(batch))
            return None
        try:
            stored = await self.outbox.in_thread(self.outbox.append, batch)
        except OutboxError as exc:
            self.outbox.count_unstored(len(batch))
            self._outage.failed(
                f"{exc}; polls are counted as dropped (dropped_total, unstored_total) until it stores again, "
                "what it holds is still published"
            )
            self._retry_at = self._clock.monotonic() + self._backoff.next_delay()
            return None
        if self._retry_at is not None:
            self._retry_at = None
            self._backoff.reset()
            self._outage.recovered()
        return stored
