"""Every private part of aiomqtt and paho-mqtt that pantau relies on, touched here and nowhere else.

pantau needs two things aiomqtt 2.x does not offer: acknowledging a message only once it is stored
(aiomqtt acknowledges on arrival) and the PUBACK reason code of each message it publishes (aiomqtt takes any
PUBACK as success). paho, the client aiomqtt wraps, offers both publicly (`manual_ack_set`, `ack`, `publish`
returning the message id, the `on_publish` callback with its reason code), so the one way in is:

- `aiomqtt.Client._client`, the paho client (aiomqtt creates it with callback API version 2 and installs
  its own `on_message`, `on_publish` and `on_disconnect` in its constructor: hooks set here, after that,
  replace or wrap them for the whole connection);
- `paho.mqtt.client.Client._packet_queue(command, packet, mid, qos)`, paho's outgoing queue, where its own
  `ack()` puts each PUBACK: a batch's PUBACKs go in as one write, in order with whatever else paho sends.
  Without it (a paho that renamed it) acknowledgements fall back to paho's public `ack()`, one write each.
- paho's reading (`_sock`, `_sock_recv`, `_packet_read`, `_loop_rc_handle`): `read_in_batches` makes a
  receiving client read every packet waiting per readable event, out of one large `recv`, instead of one
  packet per event loop turn in three or four `recv` calls. Without them paho reads as it always did.
  With a `publish` callback it also takes whole QoS 0/1 PUBLISH packets from that buffer itself, between
  two of paho's packets (`_in_packet` says paho is between packets, `_protocol` whether MQTT v5 properties
  follow the packet id, `_last_bytes_received` is the keepalive's clock): paho's per-message handling was
  the largest share of an ingest worker's CPU (bench/ingest_throughput.py). Anything else stays paho's.
- `aiomqtt.Client._disconnected`, the future holding why a connection ended: `settle_disconnect` marks
  its error seen, which aiomqtt does not when its block ends with an error of the caller's.
- `aiomqtt.Client._connected`, the future aiomqtt's connect waits on: `fail_connect_on_loss` fails it
  when the broker closes the connection before its CONNACK, which aiomqtt ignores until its timeout.

`problems()` says what of this has moved, naming the installed versions. The contract test
(tests/pantau/mqtt/test_internals.py) runs it and a real manual-acknowledgement and reason-code round trip
against Mosquitto, so an upgrade that moves them fails there, by name, before it reaches a site.
pyproject pins both libraries to the ranges this was checked against (paho-mqtt 2.1.0 and 2.2.0, aiomqtt
2.5.0 and 2.5.1): to raise a cap, install the new release and run tests/pantau/mqtt first.

Errors: `InternalsMoved` (a RuntimeError: a wrong install, not a broker problem, so no reconnect loop
retries it).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import struct
from collections.abc import Callable, Iterable
from typing import Any, Final

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

logger = logging.getLogger(__name__)

_PUBACK: Final = 0x40  # MQTT control packet type 4, no flags
#: A PUBACK without reason code or properties: success, valid in MQTT 3.1.1 and 5 alike.
_PUBACK_PACKET: Final = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id
_PACKET_QUEUE_PARAMETERS: Final = ("command", "packet", "mid", "qos")

#: The paho callbacks pantau hooks, with the parameters paho's callback API version 2 passes.
CALLBACKS: Final = {
    "on_message": ("client", "userdata", "message"),
    "on_publish": ("client", "userdata", "mid", "reason_code", "properties"),
    "on_disconnect": ("client", "userdata", "flags", "reason_code", "properties"),
}


class InternalsMoved(RuntimeError):
    """aiomqtt or paho-mqtt no longer has a private part pantau relies on (see `problems()`)."""


def versions() -> str:
    """The installed versions, for every message about internals."""
    from importlib.metadata import version  # noqa: PLC0415 - only when something moved: 1.6 MB otherwise

    return f"aiomqtt {version('aiomqtt')}, paho-mqtt {version('paho-mqtt')}"


async def problems() -> list[str]:
    """What of the parts this module relies on is missing or changed; empty when all is in place.
    (Async because an aiomqtt client can only be made in a running event loop; it is never connected.)"""
    found: list[str] = []
    client = aiomqtt.Client("localhost")
    inner = getattr(client, "_client", None)
    if not isinstance(inner, paho.Client):
        found.append(f"aiomqtt.Client._client is {type(inner).__name__}, not a paho.mqtt.client.Client")
    elif inner.callback_api_version != CallbackAPIVersion.VERSION2:
        found.append(f"aiomqtt creates paho clients with callback API {inner.callback_api_version}, not 2")
    else:
        found += [
            f"aiomqtt installs no {name} of its own on the paho client"
            for name in CALLBACKS
            if getattr(inner, name) is None
        ]
    for name in ("manual_ack_set", "ack", "publish"):
        if not callable(getattr(paho.Client, name, None)):
            found.append(f"paho.mqtt.client.Client.{name} is gone")
    if _packet_queue_parameters() != _PACKET_QUEUE_PARAMETERS:
        found.append(
            "paho.mqtt.client.Client._packet_queue takes "
            f"{_packet_queue_parameters()}, not {_PACKET_QUEUE_PARAMETERS}"
        )
    found += [f"paho.mqtt.client.Client.{name} is gone" for name in _READ_PARTS if not _has(name)]
    for name in ("_connected", "_disconnected"):
        if not isinstance(getattr(client, name, None), asyncio.Future):
            found.append(f"aiomqtt.Client.{name} is not a future")
    if paho.PUBACK != _PUBACK:
        found.append(f"paho's PUBACK is 0x{paho.PUBACK:02x}, not 0x{_PUBACK:02x}")
    return [f"{problem} ({versions()})" for problem in found]


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """The paho client inside `client`: its public API acknowledges manually and reports reason codes."""
    inner = getattr(client, "_client", None)
    if not isinstance(inner, paho.Client):
        raise InternalsMoved(f"aiomqtt.Client._client is not a paho client ({versions()})")
    if inner.callback_api_version != CallbackAPIVersion.VERSION2:  # the hooks take version 2's arguments
        raise InternalsMoved(
            f"aiomqtt's paho client calls back with API {inner.callback_api_version} ({versions()})"
        )
    return inner


def settle_disconnect(client: aiomqtt.Client) -> None:
    """Mark seen why `client`'s connection ended, once its block is left.

    aiomqtt keeps the error a connection dropped with in a future nothing awaits when the block ends with
    an error of its own (the caller's "connection lost"), so asyncio logged "Future exception was never
    retrieved", at ERROR with a traceback, for every connection a gateway or backend lost."""
    ended = getattr(client, "_disconnected", None)
    if isinstance(ended, asyncio.Future) and ended.done() and not ended.cancelled():
        ended.exception()


def fail_connect_on_loss(client: aiomqtt.Client) -> Callable[[], None]:
    """Make a connection the broker closes before its CONNACK fail `client`'s connect at once, saying why;
    call the returned function once connected.

    A broker that requires a client certificate refuses a missing or unknown one after the TLS 1.3
    handshake has completed on the client's side: the refusal arrives as the first read, paho logs it
    ("failed to receive on socket: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] ...") and reports the
    connection lost, and aiomqtt, which ignores a disconnect before CONNACK, waited out its timeout and
    said "Operation timed out". While connecting, paho's error log lines are kept (its `on_log` formats
    every packet's line, so it is switched off again once connected: the ingest hot path stays as it was)."""
    inner = paho_client(client)
    loop = asyncio.get_running_loop()
    errors: list[str] = []

    def on_log(_client: paho.Client, _userdata: Any, level: int, text: str) -> None:
        if level == paho.MQTT_LOG_ERR:
            errors.append(text)

    connecting = [True]  # until the caller says the connect is over: aiomqtt makes a new future later

    def fail(reason_code: object) -> None:
        waiting = getattr(client, "_connected", None)
        if connecting[0] and isinstance(waiting, asyncio.Future) and not waiting.done():
            why = errors[-1] if errors else f"reason {reason_code}"
            waiting.set_exception(
                aiomqtt.MqttError(
                    f"broker {inner.host}:{inner.port} closed the connection before accepting it: {why}"
                    + (_CERTIFICATE_HINT if "CERTIFICATE" in why or "UNKNOWN_CA" in why else "")
                )
            )

    def on_disconnect(*args: Any) -> None:
        loop.call_soon_threadsafe(fail, args[3])  # paho may call from aiomqtt's connect thread

    inner.on_log = on_log
    hook(inner, "on_disconnect", on_disconnect, forward=True)

    def connected() -> None:
        connecting[0] = False
        inner.on_log = None

    return connected


_CERTIFICATE_HINT: Final = (
    " (the broker wants a client certificate it trusts: check mqtt.certfile and mqtt.keyfile)"
)


def hook(inner: paho.Client, name: str, callback: Callable[..., None], *, forward: bool) -> None:
    """Install `callback` as paho's `name` callback (one of CALLBACKS), calling aiomqtt's own handler after
    it when `forward` (aiomqtt's handler keeps its own waits working: a publish, the end of the session)."""
    if name not in CALLBACKS:
        raise ValueError(f"pantau does not hook paho's {name}")
    if not forward:
        setattr(inner, name, callback)
        return
    aiomqtt_handler: Callable[..., None] = getattr(inner, name)

    def both(*args: Any) -> None:
        callback(*args)
        aiomqtt_handler(*args)

    setattr(inner, name, both)


def queue_pubacks(inner: paho.Client, mids: Iterable[int]) -> int:
    """Send a PUBACK for each QoS 1 message id, in the given order, as one write; returns how many.

    paho's `ack()` queues one packet, so one socket send, per message: a few thousand syscalls per batch.
    The same bytes go into paho's outgoing queue at once, so they stay ordered with anything else paho
    sends. Without the queue, one public `ack()` per message."""
    mids = list(mids)
    if not mids:
        return 0
    if not _PACKET_QUEUE_OK:
        for mid in mids:
            inner.ack(mid, 1)
        return len(mids)
    packets = b"".join(_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in mids)
    inner._packet_queue(_PUBACK, packets, 0, 0)  # the one private call (module docstring)
    return len(mids)


def _packet_queue_parameters() -> tuple[str, ...]:
    queue = getattr(paho.Client, "_packet_queue", None)
    if queue is None:
        return ()
    return tuple(list(inspect.signature(queue).parameters)[1:5])


_PACKET_QUEUE_OK: Final = _packet_queue_parameters() == _PACKET_QUEUE_PARAMETERS
if not _PACKET_QUEUE_OK:
    logger.warning(
        "paho's outgoing queue moved (%s): acknowledging one message per write, which is slower", versions()
    )


#: The parts of paho's reading that `read_in_batches` relies on (`_sock` is an instance attribute).
_READ_PARTS: Final = ("_sock_recv", "_packet_read", "_loop_rc_handle", "loop_read")
#: One `recv` takes up to this much; paho's packets are then cut from it in memory. Far more than a TLS
#: record (16 KiB): on an SSL socket one `recv` takes a whole record, so no decrypted byte stays inside the
#: SSL object, where the event loop cannot see it, once a read ends (the `SSLSocket.pending()` trap, which
#: paho's small reads fall into: tests/pantau/mqtt/test_batched_reads_tls.py).
_READ_BYTES: Final = 256 * 1024
#: Packets read per readable event at most, so a flood cannot hold the event loop (the socket stays
#: readable, so the rest is read on the next turn).
_PACKETS_PER_TURN: Final = 2000


def _has(name: str) -> bool:
    return callable(getattr(paho.Client, name, None))


_READS_OK: Final = all(_has(name) for name in _READ_PARTS)


#: A PUBLISH taken by the fast path: (topic, payload, packet id, QoS).
PublishCallback = Callable[[str, bytes, int, int], None]
#: The paho state the PUBLISH fast path reads (instance attributes, checked on the instance).
_FAST_PARTS: Final = ("_in_packet", "_protocol", "_last_bytes_received")
_PACKET_ID: Final = struct.Struct("!H")


def read_in_batches(inner: paho.Client, publish: PublishCallback | None = None) -> bool:
    """Make `inner` read all the packets waiting on its socket per readable event, cut from one `recv`.

    aiomqtt calls paho's `loop_read()` once per readable event, and paho reads one packet per call, in
    three or four `recv` calls (type, length, rest): a turn of the event loop and a few system calls per
    message, about a sixth of an ingest worker's CPU (bench/ingest_throughput.py). paho still parses and
    handles every other packet itself; only where its bytes come from and how many packets a call reads
    change. With `publish`, whole QoS 0 and 1 PUBLISH packets go to it instead of paho's `on_message`
    (parse_publish; the caller acknowledges them as it would paho's). Returns False (and changes nothing)
    where paho's reading has moved."""
    if not _READS_OK:
        return False
    if isinstance(getattr(inner.loop_read, "__self__", None), _BatchedReader):
        return True  # already reading in batches (a second waiter on the same connection)
    if publish is not None and not all(hasattr(inner, name) for name in _FAST_PARTS):
        logger.warning("paho's reading state moved (%s): every packet goes through paho", versions())
        publish = None
    reader = _BatchedReader(inner, publish)
    inner._sock_recv = reader.recv  # type: ignore[method-assign]  # the instance's own, this client only
    inner.loop_read = reader.loop_read  # type: ignore[method-assign]
    return True


class _BatchedReader:
    """One client's read buffer. Invariant: paho answers MQTT_ERR_AGAIN only once the buffer is empty (it
    asks for a whole packet's rest, or a byte when the buffer is empty and the socket has nothing), so no
    byte waits in the buffer while the event loop waits for the socket."""

    def __init__(self, inner: paho.Client, publish: PublishCallback | None = None) -> None:
        self._inner = inner
        self._socket_recv: Callable[[int], bytes] = inner._sock_recv
        self._socket: object = None
        self._buffer = memoryview(b"")
        self._publish = publish
        #: PUBLISH packets the fast path took in the current loop_read.
        self._taken = 0

    def recv(self, bufsize: int) -> bytes:
        self._follow_socket()
        if not self._buffer:
            data = self._socket_recv(_READ_BYTES)  # BlockingIOError, OSError and b"" reach paho as before
            if not data:
                return data
            self._buffer = memoryview(data)
        chunk, self._buffer = self._buffer[:bufsize], self._buffer[bufsize:]
        return chunk.tobytes()

    def _follow_socket(self) -> None:
        socket = self._inner._sock
        if socket is not self._socket:  # a new connection: none of the old one's bytes belong to it
            self._socket, self._buffer = socket, memoryview(b"")

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:  # noqa: ARG002  # paho's signature
        self._taken = 0
        try:
            rc = self._read_turn()
            if rc is None:
                rc = self._read_buffered()
            return rc
        finally:
            if self._taken:  # what paho's own reading does after each packet: the keepalive's evidence
                self._inner._last_bytes_received = paho.time_func()

    def _read_turn(self) -> MQTTErrorCode | None:
        """Up to _PACKETS_PER_TURN packets, from the socket as needed; None when the bound was reached."""
        inner = self._inner
        for _ in range(_PACKETS_PER_TURN):
            if inner._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            if self._publish is not None:
                took = self._take_publish()
                if took is None:  # nothing waiting on the socket
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
                if took:
                    self._taken += 1
                    continue
            rc = inner._packet_read()
            if rc > 0:
                return inner._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return None

    def _read_buffered(self) -> MQTTErrorCode:
        """Past the bound: only the whole packets already read (paho, asked for a packet the buffer holds
        only part of, would read the socket again; the rest comes with the next readable event)."""
        inner = self._inner
        while self._buffer and inner._sock is not None:
            if inner._in_packet["command"] == 0:
                if packet_length(self._buffer) is None:
                    break
                if self._publish is not None and self._take_publish(fill=False):
                    self._taken += 1
                    continue
            rc = inner._packet_read()
            if rc > 0:
                return inner._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _take_publish(self, *, fill: bool = True) -> bool | None:
        """Hand a whole QoS 0/1 PUBLISH at the head of the buffer to the callback (True). Between two of
        paho's packets an empty buffer is filled first: a worker that keeps up with its broker gets a packet
        or two per read, and paho would start on each before this saw it. False (nothing taken) when paho is
        inside a packet, the buffer holds no whole PUBLISH, it is one paho must see, or the socket failed
        (paho's own read then says how); None when the socket has nothing now."""
        inner = self._inner
        if inner._in_packet["command"] != 0:
            return False
        self._follow_socket()
        if not self._buffer and fill:
            try:
                data = self._socket_recv(_READ_BYTES)
            except BlockingIOError:
                return None
            except OSError:  # the connection failed: paho reads again and reports it as its own
                return False
            if not data:  # closed: a closed socket keeps answering b"" to paho's read
                return False
            self._buffer = memoryview(data)
        parsed = parse_publish(self._buffer, v5=inner._protocol == paho.MQTTv5)
        if parsed is None or self._publish is None:
            return False
        length, topic, payload, mid, qos = parsed
        self._buffer = self._buffer[length:]
        self._publish(topic, payload, mid, qos)
        return True


def packet_length(buffer: memoryview) -> int | None:
    """The length of the whole packet at the start of `buffer`, None when only part of it is there."""
    try:
        remaining, at = _varint(buffer, 1, len(buffer))
    except _PahosPacket:
        return None
    return at + remaining if at + remaining <= len(buffer) else None


def parse_publish(buffer: memoryview, *, v5: bool) -> tuple[int, str, bytes, int, int] | None:
    """(packet length, topic, payload, packet id, QoS) of the whole PUBLISH at the start of `buffer`, or
    None when there is none or paho must handle it: QoS 2 (its PUBREC/PUBREL exchange), an empty topic (a
    topic alias, which paho resolves), a topic that is not UTF-8 (paho's own message says so), a packet cut
    short. MQTT v5 properties are skipped: nothing pantau receives reads them."""
    try:
        return _publish(buffer, v5=v5)
    except _PahosPacket:
        return None


class _PahosPacket(Exception):  # not an error: the packet is paho's to read
    pass


def _need(condition: bool) -> None:  # noqa: FBT001  # a guard, read as `_need(x > y)`
    if not condition:
        raise _PahosPacket


def _publish(buffer: memoryview, *, v5: bool) -> tuple[int, str, bytes, int, int]:
    size = len(buffer)
    _need(size >= 2)
    header = buffer[0]
    qos = (header >> 1) & 3
    _need(header >> 4 == 3 and qos <= 1)  # 3: PUBLISH
    remaining, at = _varint(buffer, 1, size)
    end = at + remaining
    _need(at + 2 <= end <= size)
    (topic_length,) = _PACKET_ID.unpack_from(buffer, at)
    at += 2
    _need(topic_length > 0 and at + topic_length <= end)
    try:
        topic = str(buffer[at : at + topic_length], "utf-8")
    except UnicodeDecodeError:
        raise _PahosPacket from None
    at += topic_length
    mid = 0
    if qos:
        _need(at + 2 <= end)
        (mid,) = _PACKET_ID.unpack_from(buffer, at)
        at += 2
    if v5:
        properties, at = _varint(buffer, at, end)
        at += properties
        _need(at <= end)
    return end, topic, buffer[at:end].tobytes(), mid, qos


def _varint(buffer: memoryview, at: int, limit: int) -> tuple[int, int]:
    """MQTT's variable byte integer at `at` (at most 4 bytes, all before `limit`): (value, next offset)."""
    value, shift = 0, 0
    for offset in range(at, min(at + 4, limit)):
        byte = buffer[offset]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset + 1
        shift += 7
    raise _PahosPacket  # cut short, or longer than MQTT allows
