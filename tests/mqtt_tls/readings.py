"""Readings through a real gateway outbox, and what of them storage holds: for the MQTT over TLS tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from backend.storage.model import ALL_TAGS, SeriesQuery, Storage
from pantau.contract import encode
from tests.harness.backend import Gateway, readings

EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC))


async def queue_readings(gateway: Gateway, count: int) -> set[int]:
    """Queue `count` polls in the gateway's outbox, numbered by the outbox as the gateway's own are (a
    reading numbered apart could share its number with a status the gateway sends); their numbers."""
    numbers: list[int] = []

    def build(seq: int) -> tuple[str, bytes, bool]:
        numbers.append(seq)
        message = readings(seq)
        return gateway.topics.readings(message.site, message.device), encode(message), False

    await asyncio.to_thread(gateway.outbox.append, [build] * count)
    gateway.publisher.notify()
    return set(numbers)


async def stored_seqs(storage: Storage) -> set[int]:
    query = SeriesQuery("reading", ("seq",), *EVERYTHING, group_by=ALL_TAGS)
    series = await storage.query(query)
    return {
        int(seq) for one in series for row in one.rows if isinstance(seq := row.values["seq"], int | float)
    }
