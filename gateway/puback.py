"""Per-message PUBACK reason codes: the one place that reaches inside aiomqtt for them.

An MQTT v5 broker may refuse a QoS 1 message in its PUBACK (0x87 not authorized: an ACL denial; 0x97 quota
exceeded) while keeping the connection up. aiomqtt 2.5 takes any PUBACK as success and does not say which
message a reason code belongs to, so the gateway publishes through paho's public `publish()` (which returns
the message id) and paho's public `on_publish` callback (which carries the reason code), on the paho client
aiomqtt wraps (`Client._client`, the only private name used). aiomqtt's own handler still runs, so its own
`publish()` keeps working on the same connection. paho's public `on_disconnect` ends every wait at once
when the connection drops (a broker may close it right after a refusal: Mosquitto 2.0.11 does with
`max_queued_messages 0`), rather than after the PUBACK timeout. tests/gateway/test_refused.py runs this
against a real Mosquitto with an ACL, so a change of either library's internals fails there.

MQTT 3.1.1 has no reason codes: Mosquitto acknowledges a message its ACL denies as if delivered and drops it.
Nothing here can see that (gateway/README.md).

Errors: `aiomqtt.MqttError` (not connected, or no PUBACK within the timeout: the connection is gone).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
import paho.mqtt.client as paho_client
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode


class PubackWaiter:
    """Publishes QoS 1 on one connected aiomqtt client and returns each message's refusal, if any."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._paho: paho_client.Client = client._client
        self._waiting: dict[int, asyncio.Future[ReasonCode | None]] = {}
        forward_publish: Any = self._paho.on_publish
        forward_disconnect: Any = self._paho.on_disconnect

        # paho calls these on the event loop's thread: aiomqtt drives paho's socket from loop callbacks.
        def on_publish(c: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
            waiter = self._waiting.pop(mid, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(reason_code if getattr(reason_code, "is_failure", False) else None)
            forward_publish(c, userdata, mid, reason_code, properties)

        def on_disconnect(c: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
            waiting, self._waiting = self._waiting, {}
            for waiter in waiting.values():
                if not waiter.done():
                    waiter.set_exception(
                        aiomqtt.MqttError(f"connection lost before the PUBACK: {reason_code}")
                    )
            forward_disconnect(c, userdata, flags, reason_code, properties)

        self._paho.on_publish = on_publish
        self._paho.on_disconnect = on_disconnect

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
        info = self._paho.publish(topic, payload, qos=1, retain=retain, properties=properties)
        if info.rc != paho_client.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        # No await between publish() and this line, so the PUBACK cannot have been handled yet.
        waiter: asyncio.Future[ReasonCode | None] = asyncio.get_running_loop().create_future()
        self._waiting[info.mid] = waiter
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            raise aiomqtt.MqttError(f"no PUBACK for a message on {topic} within {timeout:.0f} s") from None
        finally:
            self._waiting.pop(info.mid, None)
