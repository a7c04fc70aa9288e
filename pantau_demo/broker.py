"""The demo's embedded MQTT broker: amqtt (MQTT 3.1.1) in the demo's own event loop.

Only the demo uses it; the field runs Mosquitto (backend/deploy/mosquitto). amqtt 0.12 differs from
Mosquitto in ways pantau's clients notice, handled here (tests/pantau_demo/test_broker.py shows each):

- With `allow_anonymous: true` amqtt marks *every* session anonymous, and then neither queues QoS 1
  messages for a persistent session while its client is away nor keeps its subscriptions. Anonymous logins
  are refused instead and every pantau client logs in with a username (no password: loopback only).
- It delivers a returning session's queued messages, and the retained messages matching a new
  subscription, and *waits for their PUBACKs* before it reads the client's next packet. pantau's ingest
  and rules subscribers acknowledge a message only once it is stored, which happens after their
  subscriptions are all in place: each side waits for the other. Here both deliveries start and are not
  waited for, as Mosquitto does.
- It sends queued messages with the retain flag set, and on every connect pushes the retained messages
  matching *any* client's subscriptions to the newcomer (a gateway receives alert topics it never asked
  for). Queued messages go out unretained here, and retained ones only to sessions subscribed to them.
- Its `$SYS` plugin and its packet logger are not loaded.

Left as it is: amqtt waits 5 s for a PUBACK, then logs a warning and forgets the message (no redelivery
after a reconnect). At-least-once therefore holds only while the backend acknowledges within 5 s, which
it does by far in the demo; in the field Mosquitto keeps unacknowledged messages for as long as it takes.
Sessions live in memory: stopping the demo forgets them, which a demo may.

This module is the only one that reaches inside amqtt: the private members it overrides or reads are listed
in AMQTT_METHODS and AMQTT_STATE, and `amqtt_problems()` says which of them moved (checked at start and by
tests/pantau_demo/test_broker_internals.py), so an amqtt upgrade fails by name, not by a demo that hangs.

Errors: `AmqttInternalsMoved` (a RuntimeError: the installed amqtt is not one this module fits).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from importlib.metadata import version
from types import TracebackType
from typing import Any, Final, Self

from amqtt.broker import Broker
from amqtt.session import Session

logger = logging.getLogger(__name__)

#: amqtt's private methods this module overrides (amqtt calls them) or calls, with their parameters.
AMQTT_METHODS: Final = {
    "_publish_session_retained_messages": ("session",),
    "_publish_retained_messages_for_subscription": ("subscription", "session"),
    "_get_handler": ("session",),
    "_matches": ("topic", "a_filter"),
}
#: The overrides only work while amqtt itself calls them.
AMQTT_CALLS: Final = ("_publish_session_retained_messages", "_publish_retained_messages_for_subscription")
#: amqtt's private broker state the overrides read: subscribers by filter, retained messages by topic.
AMQTT_STATE: Final = ("_subscriptions", "_retained_messages")


class AmqttInternalsMoved(RuntimeError):
    """The installed amqtt lacks a private member the demo broker overrides or reads."""


def amqtt_problems(broker: Broker | None = None) -> list[str]:
    """Which of the private members listed above moved, naming the installed amqtt; empty when none did.
    With a `broker` (made, not started), its state too."""
    found = []
    for name, parameters in AMQTT_METHODS.items():
        method = getattr(Broker, name, None)
        if method is None:
            found.append(f"Broker.{name} is gone")
        elif tuple(list(inspect.signature(method).parameters)[1:]) != parameters:
            found.append(f"Broker.{name} no longer takes {parameters}")
    source = inspect.getsource(Broker)
    found += [f"Broker no longer calls self.{name}" for name in AMQTT_CALLS if f"self.{name}(" not in source]
    if broker is not None:
        found += [
            f"Broker().{name} is not a dict"
            for name in AMQTT_STATE
            if not isinstance(getattr(broker, name, None), dict)
        ]
    return [f"{problem} (amqtt {version('amqtt')})" for problem in found]


#: The plugins the demo broker loads (amqtt's defaults minus $SYS and the packet/event loggers).
PLUGINS: dict[str, dict[str, Any]] = {
    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
}


class _Broker(Broker):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt's broker with the deliveries described in the module docstring."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        # Deliveries whose PUBACK we do not wait for; kept here so shutdown can cancel them.
        self.deliveries: set[asyncio.Task[Any]] = set()

    def _deliver(self, session: Session, topic: str, data: bytes, qos: int, *, retain: bool) -> None:
        handler = self._get_handler(session)
        if handler is None:
            return
        task = asyncio.ensure_future(handler.mqtt_publish(topic, data, qos, retain=retain))
        self.deliveries.add(task)
        task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[Any]) -> None:
        self.deliveries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The client went away before its PUBACK: amqtt keeps the message in flight for the session.
            logger.debug("delivery ended early: %s", task.exception())

    async def _publish_session_retained_messages(self, session: Session) -> None:
        while not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            self._deliver(session, queued.topic, queued.data, queued.qos, retain=False)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        topic_filter, qos = subscription
        subscribers = self._subscriptions.get(topic_filter, [])
        if not any(s is session for s, _qos in subscribers):
            return  # amqtt's connect-time pass over every client's filters
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter):
                self._deliver(
                    session, retained.topic, retained.data, min(qos, retained.qos or qos), retain=True
                )

    async def shutdown(self) -> None:
        for task in list(self.deliveries):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.deliveries, return_exceptions=True)
        await super().shutdown()


class EmbeddedBroker:
    """`async with EmbeddedBroker(host, port):` serves MQTT 3.1.1 on host:port until the block ends."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._broker: _Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def __aenter__(self) -> Self:
        # amqtt and its state machine library log every connection at INFO; the demo's status line says
        # what matters.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
        broker = _Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": PLUGINS,
            }
        )
        if problems := amqtt_problems(broker):
            raise AmqttInternalsMoved("the demo broker does not fit this amqtt: " + "; ".join(problems))
        self._broker = broker
        await self._broker.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None

    def sessions(self) -> int:
        """Client sessions the broker holds (connected or persistent)."""
        return len(self._broker.sessions) if self._broker is not None else 0
