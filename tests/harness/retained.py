"""What a subscriber that connects now is handed: every retained message under a prefix, read from a real
broker. The broker sends retained messages as it grants a subscription, before anything published after
it, so a sentinel published once subscribed marks the end of them (no waiting for silence)."""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt


async def retained_under(host: str, port: int, prefix: str, *, timeout: float = 10.0) -> dict[str, bytes]:
    """Topic -> payload of every message the broker retains under `prefix` (v5 client, clean start)."""
    # Outside the prefix, so no pantau subscriber (or test listener) ever sees it.
    sentinel = f"retained-sentinel/{uuid.uuid4().hex}"
    found: dict[str, bytes] = {}
    async with aiomqtt.Client(
        host, port, identifier=f"retained-{uuid.uuid4().hex[:8]}", protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe(f"{prefix}/#", qos=1)
        await client.subscribe(sentinel, qos=1)
        await client.publish(sentinel, b"", qos=1)
        async with asyncio.timeout(timeout):
            async for message in client.messages:
                if message.topic.value == sentinel:
                    break
                if message.retain:
                    found[message.topic.value] = bytes(message.payload)  # type: ignore[arg-type]
    return found
