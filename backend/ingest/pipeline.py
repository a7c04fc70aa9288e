"""One ingest batch: triage every message, spool points and dead letters together, wake the writer."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from backend.config import DEFAULT_CLOCK_SKEW
from backend.ingest.intake import Accepted, triage
from backend.ingest.receipts import Reply, Sender, receipts, sender_of_dead_letter
from backend.ingest.senders import SenderCheck
from backend.ingest.spool import DeadLetter, Spool
from backend.ingest.subscriber import Incoming
from backend.storage.model import Point
from pantau.contract import Message, Topics
from pantau.resilience import SYSTEM_CLOCK, Clock

logger = logging.getLogger(__name__)

#: Messages triaged between two turns of the event loop. A 2000-message batch is about half a second of
#: CPU; in one piece it would hold up the writer's HTTP answers and the socket reads for that long.
YIELD_EVERY: Final = 100


@dataclass(slots=True)
class IngestStats:
    accepted: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    ignored_total: int = 0


class IngestPipeline:
    """The subscriber's batch handler. `on_accepted` sees every valid message after it is durable
    (the rules engine's feed); `senders`, when given, dead-letters what the site inventory does not vouch
    for (backend/ingest/senders.py); `write_lines` when storage takes line protocol (intake.triage).
    With `receipts_from` (the worker id) each batch returns the receipts to publish once the batch is
    acknowledged (backend/ingest/receipts.py)."""

    def __init__(
        self,
        spool: Spool,
        topics: Topics,
        wake_writer: Callable[[], None],
        on_accepted: Callable[[list[Message]], None] | None = None,
        *,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        senders: SenderCheck | None = None,
        write_lines: bool = False,
        receipts_from: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.spool = spool
        self.clock_skew = clock_skew
        self.senders = senders
        self.write_lines = write_lines
        self.topics = topics
        self.wake_writer = wake_writer
        self.on_accepted = on_accepted
        self.receipts_from = receipts_from
        self.clock = clock
        self.stats = IngestStats()

    async def __call__(self, batch: list[Incoming]) -> list[Reply]:
        with _collector_paused():
            return await self._handle(batch)

    async def _handle(self, batch: list[Incoming]) -> list[Reply]:
        points: list[Point] = []
        dead: list[DeadLetter] = []
        accepted: list[Accepted] = []
        for index, incoming in enumerate(batch):
            if index % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            outcome = triage(
                incoming.topic,
                incoming.payload,
                self.topics,
                incoming.received_at,
                self.clock_skew,
                senders=self.senders,
                write_lines=self.write_lines,
            )
            if outcome is None:
                self.stats.ignored_total += 1
            elif isinstance(outcome, Accepted):
                points.extend(outcome.points)
                accepted.append(outcome)
            else:
                dead.append(outcome)
        await asyncio.to_thread(self.spool.accept, points, dead)
        for outcome in accepted:
            self.stats.accepted[outcome.kind] += 1
        for letter in dead:
            self.stats.dead[letter.reason] += 1
            logger.warning("dead letter (%s) on %s: %s", letter.reason, letter.topic, letter.detail[:300])
        if points:
            self.wake_writer()
        if self.on_accepted is not None and accepted:
            self.on_accepted([outcome.message for outcome in accepted])
        return self._receipts(accepted, dead)

    def _receipts(self, accepted: list[Accepted], dead: list[DeadLetter]) -> list[Reply]:
        if self.receipts_from is None:
            return []
        taken: list[Sender] = [a.sender for a in accepted if a.sender is not None]
        for letter in dead:
            sender = sender_of_dead_letter(letter.topic, letter.payload, self.topics)
            if sender is not None:
                taken.append(sender)
        if not taken:
            return []
        return receipts(taken, source=self.receipts_from, now=self.clock.now(), topics=self.topics)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector runs between batches, not during one.

    A batch allocates tens of thousands of container objects (models, points, dicts; the writer's lines
    meanwhile), none in reference cycles, and many live on for a while (spooled points, buffered messages).
    Under CPython's default thresholds that set off a collection every 700 allocations and a full one about
    every second: 30-40 % of the worker's CPU went to the collector (bench/ingest_throughput.py).
    Refcounting frees the garbage meanwhile; a cycle, if one appears, waits until the batch is done.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
