"""Per-message PUBACK reason codes and completion: what the gateway publisher needs and aiomqtt hides.

An MQTT v5 broker may refuse a QoS 1 message in its PUBACK (0x87 not authorized: an ACL denial; 0x97 quota
exceeded) while keeping the connection up. aiomqtt 2.5 takes any PUBACK as success and does not say which
message a reason code belongs to, so `PubackWaiter` publishes through paho's public `publish()` (which
returns the message id) and hears paho's public `on_publish` callback (which carries the reason code), on
the paho client inside the aiomqtt client. aiomqtt's own handler still runs after it, so aiomqtt's
`publish()` keeps working on the same connection. paho's `on_disconnect` ends every wait at once when the
connection drops (a broker may close it right after a refusal: Mosquitto 2.0.11 does with
`max_queued_messages 0`), rather than after the PUBACK timeout.

MQTT 3.1.1 has no reason codes: Mosquitto acknowledges a message its ACL denies as if delivered and drops
it. Nothing here can see that (gateway/README.md).

Errors: `aiomqtt.MqttError` (not connected, or no PUBACK within the timeout: the connection is gone);
`InternalsMoved` (pantau.mqtt.internals) when the installed aiomqtt has no paho client inside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from pantau.mqtt.internals import hook, paho_client, read_in_batches


class PubackWaiter:
    """Publishes QoS 1 on one connected aiomqtt client and returns each message's refusal, if any.

    Any number of publishes may wait at once (up to the client's in-flight window on the wire); each gets
    its own PUBACK's outcome."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._paho = paho_client(client)
        self._waiting: dict[int, asyncio.Future[ReasonCode | None]] = {}
        # paho calls these on the event loop's thread: aiomqtt drives paho's socket from loop callbacks.
        hook(self._paho, "on_publish", self._on_publish, forward=True)
        hook(self._paho, "on_disconnect", self._on_disconnect, forward=True)
        # A batch's PUBACKs arrive together: read them out of one `recv`, not three or four per PUBACK.
        read_in_batches(self._paho)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool,
        properties: Properties | None = None,
        timeout: float,  # noqa: ASYNC109 - the PUBACK wait, not the caller's deadline
    ) -> ReasonCode | None:
        """Publish at QoS 1 and wait for the PUBACK: None when the broker took the message, else the
        reason code it refused it with (>= 0x80)."""
        (outcome,) = await self.publish_many(
            [(topic, payload, retain)], properties=properties, timeout=timeout
        )
        if isinstance(outcome, aiomqtt.MqttError):
            raise outcome
        return outcome

    async def publish_many(
        self,
        messages: Sequence[tuple[str, bytes, bool]],
        *,
        properties: Properties | None = None,
        timeout: float,  # noqa: ASYNC109 - the PUBACK wait, not the caller's deadline
    ) -> list[ReasonCode | aiomqtt.MqttError | None]:
        """Publish (topic, payload, retain) messages at QoS 1 and wait up to `timeout` for their PUBACKs.

        One outcome per message, in order: None (the broker took it), the refusing reason code, or the
        `MqttError` that ended its wait (not sent, no PUBACK in time, the connection lost). One wait for the
        whole batch rather than a task and a timer per message: on a gateway publishing every 100 ms those
        were a tenth of the event loop's work."""
        loop = asyncio.get_running_loop()
        sent: list[asyncio.Future[ReasonCode | None] | aiomqtt.MqttError] = []
        mids: list[int] = []
        for topic, payload, retain in messages:
            info = self._paho.publish(topic, payload, qos=1, retain=retain, properties=properties)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                sent.append(aiomqtt.MqttCodeError(info.rc, "Could not publish message"))
                continue
            # No await between publish() and this line, so the PUBACK cannot have been handled yet.
            waiter: asyncio.Future[ReasonCode | None] = loop.create_future()
            self._waiting[info.mid] = waiter
            mids.append(info.mid)
            sent.append(waiter)
        try:
            if waiters := [w for w in sent if isinstance(w, asyncio.Future)]:
                await asyncio.wait(waiters, timeout=timeout)
        finally:
            for mid in mids:
                self._waiting.pop(mid, None)
        return [_outcome(w, topic, timeout) for w, (topic, _p, _r) in zip(sent, messages, strict=True)]

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, reason_code: Any, _properties: Any) -> None:
        waiter = self._waiting.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(reason_code if getattr(reason_code, "is_failure", False) else None)

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason_code: Any, _props: Any
    ) -> None:
        waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            if not waiter.done():
                waiter.set_exception(aiomqtt.MqttError(f"connection lost before the PUBACK: {reason_code}"))


def _outcome(
    sent: asyncio.Future[ReasonCode | None] | aiomqtt.MqttError, topic: str, timeout: float
) -> ReasonCode | aiomqtt.MqttError | None:
    if isinstance(sent, aiomqtt.MqttError):
        return sent
    if not sent.done():
        sent.cancel()
        return aiomqtt.MqttError(f"no PUBACK for a message on {topic} within {timeout:.0f} s")
    error = sent.exception()
    if error is None:
        return sent.result()
    if isinstance(error, aiomqtt.MqttError):
        return error
    raise error  # set by nothing here: a bug, never hidden as a lost connection
