"""One ingest batch: triage every message, spool points and dead letters together, wake the writer."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from backend.ingest.intake import Accepted, triage
from backend.ingest.spool import DeadLetter, Spool
from backend.ingest.subscriber import Incoming
from backend.storage.model import Point
from pantau.contract import Message, Topics

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestStats:
    accepted: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    ignored_total: int = 0


class IngestPipeline:
    """The subscriber's batch handler. `on_accepted` sees every valid message after it is durable
    (the rules engine's feed)."""

    def __init__(
        self,
        spool: Spool,
        topics: Topics,
        wake_writer: Callable[[], None],
        on_accepted: Callable[[list[Message]], None] | None = None,
    ) -> None:
        self.spool = spool
        self.topics = topics
        self.wake_writer = wake_writer
        self.on_accepted = on_accepted
        self.stats = IngestStats()

    async def __call__(self, batch: list[Incoming]) -> None:
        points: list[Point] = []
        dead: list[DeadLetter] = []
        messages: list[Message] = []
        for incoming in batch:
            outcome = triage(incoming.topic, incoming.payload, self.topics, incoming.received_at)
            if outcome is None:
                self.stats.ignored_total += 1
            elif isinstance(outcome, Accepted):
                points.extend(outcome.points)
                messages.append(outcome.message)
            else:
                dead.append(outcome)
        await asyncio.to_thread(self.spool.accept, points, dead)
        for message in messages:
            self.stats.accepted[message.kind] += 1
        for letter in dead:
            self.stats.dead[letter.reason] += 1
            logger.warning("dead letter (%s) on %s: %s", letter.reason, letter.topic, letter.detail[:300])
        if points:
            self.wake_writer()
        if self.on_accepted is not None and messages:
            self.on_accepted(messages)
