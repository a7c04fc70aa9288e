"""The MQTT adapter: everything pantau does with aiomqtt and paho-mqtt beyond their public API, in one place.

Both sides use it, so it sits in the bottom layer: the backend's subscribers acknowledge manually, in
batches, after the durable write (`ManualAcks`, `Incoming`); the gateway's publisher learns each message's
PUBACK reason code and completion (`PubackWaiter`). Only `pantau.mqtt.internals` touches private names;
`problems()` lists what of them moved, naming the installed versions.

aiomqtt waits with `asyncio.wait_for`, which on Python 3.11 may drop a cancellation (pantau.aio): enter a
client with `connected(client)`, which keeps a stop that came with the CONNACK, and wrap its `subscribe`,
`unsubscribe` and `publish` in `pantau.aio.guarded` (the one guard, shared with the Modbus driver). The
adapter's own waits use asyncio.timeout, which drops nothing.

Errors:
    aiomqtt.MqttError          the connection is gone or a PUBACK never came (callers reconnect)
    InternalsMoved             (RuntimeError) the installed aiomqtt or paho-mqtt lacks a part relied on
"""

from pantau.mqtt.acks import Incoming, ManualAcks
from pantau.mqtt.connection import connected
from pantau.mqtt.internals import InternalsMoved, problems, versions
from pantau.mqtt.puback import PubackWaiter

__all__ = ["Incoming", "InternalsMoved", "ManualAcks", "PubackWaiter", "connected", "problems", "versions"]
