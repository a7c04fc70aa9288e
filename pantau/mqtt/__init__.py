"""The MQTT adapter: everything pantau does with aiomqtt and paho-mqtt beyond their public API, in one place.

Both sides use it, so it sits in the bottom layer: the backend's subscribers acknowledge manually, in
batches, after the durable write (`ManualAcks`, `Incoming`); the gateway's publisher learns each message's
PUBACK reason code and completion (`PubackWaiter`). Only `pantau.mqtt.internals` touches private names;
`problems()` lists what of them moved, naming the installed versions.

The cancellation guard for library calls that wait with `asyncio.wait_for` (aiomqtt's `subscribe`,
`publish`, connect) is `pantau.aio.guarded`, shared with the Modbus driver; nothing here waits that way.

Errors:
    aiomqtt.MqttError          the connection is gone or a PUBACK never came (callers reconnect)
    InternalsMoved             (RuntimeError) the installed aiomqtt or paho-mqtt lacks a part relied on
"""

from pantau.mqtt.acks import Incoming, ManualAcks
from pantau.mqtt.internals import InternalsMoved, problems, versions
from pantau.mqtt.puback import PubackWaiter

__all__ = ["Incoming", "InternalsMoved", "ManualAcks", "PubackWaiter", "problems", "versions"]
