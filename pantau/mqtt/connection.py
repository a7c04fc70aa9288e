"""A connection that keeps its stop: aiomqtt's connect and disconnect under the cancellation guard.

aiomqtt waits for the CONNACK (and for the end of the session) with asyncio.wait_for, which on Python 3.11
drops a cancellation that arrives with the result (pantau.aio). A loop that connects, works and reconnects
then never stops: the gateway publisher, asked to stop just as the broker answered, published on for ever.
`connected` re-raises a cancellation asked for during the connect, or during the disconnect, once the
connect or the block is over. It counts only requests made during those waits: the publisher's task
carries one left behind by Python 3.11's TaskGroup after every connection lost mid-batch (pantau.aio).
It also marks seen the error aiomqtt keeps for a connection lost, which asyncio logged otherwise.

A TLS handshake that fails reaches the caller as an `aiomqtt.MqttError` that names the broker and says
why in words (`tls_refusal`): aiomqtt passes on only OpenSSL's text, naming neither the broker nor what
to check. So does a broker that closes the connection before accepting it, as one that requires client
certificates does after a TLS 1.3 handshake without one (`fail_connect_on_loss`; aiomqtt waited out its
timeout and said "Operation timed out"). Either stays an MqttError, so callers retry it with back-off
like any connection failure (a certificate can be renewed, a clock set right) and log it once.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiomqtt

from pantau.aio import cancellations_requested, raise_cancellation_requested_since
from pantau.mqtt.internals import fail_connect_on_loss, paho_client, settle_disconnect


@asynccontextmanager
async def connected(client: aiomqtt.Client) -> AsyncIterator[aiomqtt.Client]:
    """`async with connected(client)`: aiomqtt's `async with client`, keeping a stop that came with the
    CONNACK or with the end of the session."""
    requested = cancellations_requested()
    try:
        async with _tls_explained(client):
            raise_cancellation_requested_since(requested)
            try:
                yield client
            finally:
                requested = cancellations_requested()  # what the block left: not the disconnect's
    finally:
        settle_disconnect(client)  # the caller has its own error for a connection lost
        # Left with an error (the connection lost) or not: a stop asked for while disconnecting still stops.
        raise_cancellation_requested_since(requested)


@asynccontextmanager
async def _tls_explained(client: aiomqtt.Client) -> AsyncIterator[aiomqtt.Client]:
    """`async with client`, its connect errors from a failed TLS handshake replaced by `tls_refusal`'s."""
    async with AsyncExitStack() as stack:
        connecting_over = fail_connect_on_loss(client)
        try:
            await stack.enter_async_context(client)
        except aiomqtt.MqttError as exc:
            refusal = tls_refusal(exc, client)
            if refusal is None:
                raise
            raise refusal from exc.__context__
        finally:
            connecting_over()
        yield client


def tls_refusal(exc: aiomqtt.MqttError, client: aiomqtt.Client) -> aiomqtt.MqttError | None:
    """A connect error that names the broker and the TLS problem, or None when `exc` is no TLS failure.

    aiomqtt raises `MqttError(str(ssl_error)) from None`, so the SSL error is the exception's context."""
    cause = exc.__context__
    if not isinstance(cause, ssl.SSLError):
        return None
    inner = paho_client(client)
    broker = f"{inner.host}:{inner.port}"
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = (
            f"its certificate is not accepted: {cause.verify_message}; check mqtt.host (the name the "
            "certificate is issued for) and mqtt.ca_file (the CA that signed it)"
        )
    elif "PROTOCOL" in str(cause.reason):
        reason = f"the broker and pantau have no TLS version in common (pantau: 1.2 or later): {cause.reason}"
    else:
        reason = f"the TLS handshake failed: {cause.reason or cause}"
    return aiomqtt.MqttError(f"TLS with broker {broker} failed: {reason}")
