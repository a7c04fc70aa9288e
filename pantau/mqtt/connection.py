"""A connection that keeps its stop: aiomqtt's connect and disconnect under the cancellation guard.

aiomqtt waits for the CONNACK (and for the end of the session) with asyncio.wait_for, which on Python 3.11
drops a cancellation that arrives with the result (pantau.aio). A loop that connects, works and reconnects
then never stops: the gateway publisher, asked to stop just as the broker answered, published on for ever.
`connected` re-raises a cancellation asked for during the connect, or during the disconnect, once the
connect or the block is over. It counts only requests made during those waits: the publisher's task
carries one left behind by Python 3.11's TaskGroup after every connection lost mid-batch (pantau.aio).
It also marks seen the error aiomqtt keeps for a connection lost, which asyncio logged otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt

from pantau.aio import cancellations_requested, raise_cancellation_requested_since
from pantau.mqtt.internals import settle_disconnect


@asynccontextmanager
async def connected(client: aiomqtt.Client) -> AsyncIterator[aiomqtt.Client]:
    """`async with connected(client)`: aiomqtt's `async with client`, keeping a stop that came with the
    CONNACK or with the end of the session."""
    requested = cancellations_requested()
    try:
        async with client:
            raise_cancellation_requested_since(requested)
            try:
                yield client
            finally:
                requested = cancellations_requested()  # what the block left: not the disconnect's
    finally:
        settle_disconnect(client)  # the caller has its own error for a connection lost
        # Left with an error (the connection lost) or not: a stop asked for while disconnecting still stops.
        raise_cancellation_requested_since(requested)
