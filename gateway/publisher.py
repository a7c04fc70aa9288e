"""MQTT publishing from the outbox: QoS 1, persistent session, Last Will, capped jittered reconnects.

A message leaves the outbox only after its PUBACK. After an outage two streams run side by side: the backlog
(messages queued before this connection) replays oldest-first at `replay_rate`, while live messages go out
at once, so an operator sees the river now, not the river of an hour ago, while the gap fills in behind.

Retained topics (device and gateway status) must end up holding the newest message, whichever stream carries
it: a message goes out retained exactly when it is newer than any sent retained on its topic so far (by this
connection, or acknowledged before: the outbox remembers), so a replayed old status never overwrites a newer
live one, and a status that only the backlog carries (a device's first, queued before the broker was
reached) is still retained.

The gateway status Last Will carries a sequence number of its own (see the contract). It is stored in the
outbox like any message and delivered at least once: by the broker when the connection dies (and again by
us, not retained, after reconnecting, since a broker that itself went down never sends it), or by us as
`offline`/`shutdown` with that same number on a clean stop. A will whose connection never came up is reused
for the next attempt, so no number is ever skipped.

With `mqtt.await_receipts` (the default) a PUBACK does not end a message: the outbox keeps it until a
backend worker's receipt on `{prefix}/{site}/receipts` says it is stored (gateway/receipts.py), and a
fourth task takes those receipts. A message a receipt shows was skipped (lost between the broker and the
backend: a broker crash, a broker that forgot the backend's subscription) is parked and sent again by the
retry path.

A message the broker refuses (MQTT v5 PUBACK reason code >= 0x80: an ACL denial, a quota) is parked in the
outbox, and a third task, the only one that sends parked messages, retries it with back-off; after
`dead_letter_after` refusals the outbox moves it to its dead letters. The connection stays up and the
backlog and live streams go on past it, so a refused message never holds back the ones behind it.

A full disk under the outbox does not stop publishing (gateway/storing.py): what the outbox holds can still
be read and sent. An acknowledgement that cannot be written is kept in memory and written with the next
one that can (until then a reconnect sends the message again: at least once, the backend is idempotent);
a will that cannot be stored is replaced by the last one stored (or, with none, the connection goes without
a Last Will: publishing what is held matters more); the `online` status is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, ParamSpec, TypeVar

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.clock_sanity import ClockSanity, dated
from gateway.dead_letters import Refusal
from gateway.live import LiveQueue
from gateway.outbox import Builder, Outbox, OutboxError, OutboxMessage
from pantau import __version__
from pantau.contract import ContractError, GatewayStatus, OutboxStats, Receipt, Topics, decode, encode
from pantau.mqtt import PubackWaiter, connected
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage
from pantau.site.config import MqttConfig

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

BATCH: Final = 200
#: Messages in flight at once (paho's window); PUBACKs stream back while the next ones are sent.
IN_FLIGHT: Final = 100
BACKOFF_BASE_S: Final = 1.0
#: A PUBACK slower than this means the connection is gone (paho only notices on the next keepalive).
PUBACK_TIMEOUT_S: Final = 10.0
#: Broker keeps our session (and queued QoS 1 messages to us, if any) this long after a disconnect.
SESSION_EXPIRY_S: Final = 7 * 24 * 3600
#: With nothing parked, how often (real seconds) the retry path looks for messages a technician re-queued
#: from another process (`pantau gateway dead-letters --requeue`), which cannot wake this one. Real time,
#: as the live stream's own look-out: in virtual time it must not add a sleeper every few seconds.
PARKED_POLL_S: Final = 5.0

#: How often the publisher looks again at a wall clock that reads before 2000 (gateway/clock_sanity.py).
UNSTAMPABLE_RECHECK_S: Final = 5.0


@dataclass
class PublisherStats:
    connected: bool = False
    published_total: int = 0
    connects_total: int = 0
    connect_failures_total: int = 0
    #: PUBACKs that refused a message (each retry counts).
    refused_total: int = 0
    #: Receipts taken, and messages sent again because a receipt showed they never reached the backend.
    receipts_total: int = 0
    resent_total: int = 0
    last_error: str | None = None
    down_since: float | None = None


@dataclass
class Identity:
    site: str
    gateway: str
    started_at: datetime = field(default_factory=SYSTEM_CLOCK.now)  # the runtime passes its clock's


class Publisher:
    """Drains the outbox to the broker for as long as `run()` runs."""

    def __init__(
        self,
        config: MqttConfig,
        outbox: Outbox,
        identity: Identity,
        *,
        clock: Clock = SYSTEM_CLOCK,
        clock_sanity: ClockSanity | None = None,
    ) -> None:
        if outbox.receipt_window != config.outbox_receipt_window:
            # One flag in two places: a publisher awaiting receipts on an outbox that deletes at PUBACK
            # would never resend what a receipt shows was lost, and the other way round keeps every message.
            raise ValueError(
                f"the outbox was opened with receipt_window={outbox.receipt_window}, the MQTT settings say "
                f"{config.outbox_receipt_window} (await_receipts {config.await_receipts}): open it with "
                "MqttConfig.outbox_receipt_window (gateway.runtime does)"
            )
        self.config = config
        self.outbox = outbox
        self.identity = identity
        self.topics = Topics(config.topic_prefix)
        self.stats = PublisherStats()
        self._clock = clock
        self._clock_sanity = clock_sanity or ClockSanity(clock)
        self._backoff = Backoff(base=BACKOFF_BASE_S, cap=config.reconnect_cap.total_seconds())
        #: Spacing of a refused message's retries (only its `delay(attempt)` is used: no shared state).
        self._retry_backoff = Backoff(base=BACKOFF_BASE_S, cap=config.reconnect_cap.total_seconds())
        self._outage = Outage(f"broker {config.host}:{config.port}", logger, clock)
        #: Per topic being refused, its outage: logged when refusals start and when one is accepted again.
        self._refusing: dict[str, Outage] = {}
        self._wake = asyncio.Event()
        self._live = LiveQueue()
        #: Set when a stream parks a refused message, so the retry path need not wait for its poll.
        self._parked = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._will: OutboxMessage | None = None
        #: Per retained topic, the newest seq sent retained (claimed when it is handed to the client).
        self._retained: dict[str, int] = {}
        #: The outbox refusing writes (disk full): logged when it starts and when a write succeeds again.
        self._outbox_outage = Outage(f"outbox writes {outbox.path}", logger, clock)

    @property
    def clock_sanity(self) -> ClockSanity:
        """The look-out on the wall clock whose verdict goes into every status."""
        return self._clock_sanity

    def notify(self, stored: Sequence[OutboxMessage] | None = None) -> None:
        """New messages are in the outbox (called by the poller after each batch): `stored`, handed to the
        live stream as they are (gateway/live.py), or, when not given, to be read from the outbox."""
        if stored is None:
            self._live.doubt()
        else:
            self._live.offer(stored)
        self._wake.set()

    async def run(self) -> None:
        """Connect, publish, reconnect with back-off; returns only when cancelled."""
        while True:
            while not self._clock_sanity.can_stamp():  # not even a Last Will can be dated before 2000
                await self._clock.sleep(UNSTAMPABLE_RECHECK_S)
            will = await self.outbox.in_thread(self._prepare_will)
            try:
                async with connected(self._connect(will)) as client:
                    self._backoff.reset()
                    await self._on_connected(client, will)
                    acks = PubackWaiter(client)
                    try:
                        await self._drain(client, acks)
                    except asyncio.CancelledError:
                        await self._shutdown(client, acks, will)  # still connected: say goodbye properly
                        raise
            except* aiomqtt.MqttError as errors:  # from connect, or from the publishing task group
                self._on_failure(errors.exceptions[0])
            finally:
                self._client = None
                self.stats.connected = False
            await self._clock.sleep(self._backoff.next_delay())

    async def _shutdown(
        self, client: aiomqtt.Client, acks: PubackWaiter, will: OutboxMessage | None, timeout_s: float = 3.0
    ) -> None:
        """Clean stop: `offline` in place of the will (with the will's own sequence number, so that number
        is delivered), then as much of the queue as fits in `timeout_s`, acked chunk by chunk."""
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(timeout_s):
                if will is not None:  # None: connected without a will (disk full), no number for `offline`
                    await self._say_offline(client, will)
                after = -1  # a cursor, not the head: an acknowledgement the full disk refused stays queued
                while batch := await self.outbox.in_thread(self.outbox.pending, BATCH, after):
                    await self._publish_batch(acks, batch)
                    after = batch[-1].seq
        logger.info("stopped; %d message(s) left in the outbox for the next start", self.outbox.state().depth)

    async def _say_offline(self, client: aiomqtt.Client, will: OutboxMessage) -> None:
        # `offline` first: a large backlog must not leave the retained status `online` after we left.
        offline = self._status(will.seq, "offline", "shutdown")
        # The will's number is older than this run's `online`: nothing after it may be retained there.
        self._retained[will.topic] = sys.maxsize
        await client.publish(
            will.topic,
            encode(offline),
            qos=1,
            retain=True,
            properties=self.config.message_properties(),
            timeout=PUBACK_TIMEOUT_S,
        )
        await self._acknowledge([will.seq], [])

    # Connection -------------------------------------------------------------------------------------------

    def _prepare_will(self) -> OutboxMessage | None:
        # Armed wills belong to connections that are gone. The broker published them — unless it was the
        # broker that went away — so we queue them for publishing ourselves (Outbox.release). Unarmed ones
        # never reached a broker: reuse one rather than burn a sequence number.
        armed = self.outbox.wills(armed=True)
        try:
            self.outbox.release([w.seq for w in armed])
            unarmed = self.outbox.wills(armed=False)
            if unarmed:
                return unarmed[0]
            topic = self.topics.gateway_status(self.identity.site)
            build = lambda seq: (topic, encode(self._status(seq, "offline", "connection_lost")), True)  # noqa: E731
            return self.outbox.append([build], will=True)[0]
        except OutboxError as exc:
            # Disk full: the last stored will goes out again (same number: a duplicate at worst); with none
            # stored, the connection goes without one rather than leave the outbox's contents unsent.
            self._outbox_failed("a new Last Will", exc)
            return armed[-1] if armed else None

    def _connect(self, will: OutboxMessage | None) -> aiomqtt.Client:
        c = self.config
        password = c.password()
        v5 = c.protocol == 5
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        client = aiomqtt.Client(
            c.host,
            c.port,
            identifier=c.client_id or self.identity.gateway,
            username=c.username,
            password=password.get_secret_value() if password else None,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(
                will.topic, will.payload, qos=1, retain=True, properties=c.message_properties(will=True)
            )
            if will is not None
            else None,
            clean_session=None if v5 else False,
            clean_start=False if v5 else 3,  # paho's MQTT_CLEAN_START_FIRST_ONLY; ignored for 3.1.1
            keepalive=int(c.keepalive.total_seconds()),
            timeout=10,
            properties=properties,
            max_inflight_messages=IN_FLIGHT,
            tls_context=c.tls_context(),
        )
        client.pending_calls_threshold = IN_FLIGHT * 2
        return client

    async def _on_connected(self, client: aiomqtt.Client, will: OutboxMessage | None) -> None:
        self._client, self._will = client, will
        if will is not None:
            await self._write("arming the Last Will", self.outbox.arm, will.seq)
        self._retained = await self.outbox.in_thread(self.outbox.retained_seqs)
        if self.config.await_receipts:  # every connection: a broker without persistence forgets it
            await client.subscribe(self.topics.receipts(self.identity.site), qos=1, timeout=PUBACK_TIMEOUT_S)
        self.stats.connected = True
        self.stats.connects_total += 1
        if self._outage.recovered() is None:
            logger.info("connected to broker %s:%d", self.config.host, self.config.port)
        self.stats.down_since = None
        await self._write("the online status", self.outbox.append, [self.online_status()])

    def _on_failure(self, exc: Exception) -> None:
        self.stats.connect_failures_total += 1
        self.stats.last_error = str(exc)
        self._outage.failed(f"{exc} (the outbox keeps everything)")
        self.stats.down_since = self._outage.since

    # Publishing -------------------------------------------------------------------------------------------

    async def _drain(self, client: aiomqtt.Client, acks: PubackWaiter) -> None:
        boundary = self.outbox.state().next_seq - 1  # the online status just appended is live, not backlog
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._replay_backlog(acks, boundary), name="publish[backlog]")
            tasks.create_task(self._publish_live(acks, boundary), name="publish[live]")
            tasks.create_task(self._retry_parked(acks), name="publish[refused]")
            if self.config.await_receipts:
                tasks.create_task(self._take_receipts(client), name="receipts")

    async def _replay_backlog(self, acks: PubackWaiter, boundary: int) -> None:
        after = -1
        while True:
            batch = [
                m for m in await self.outbox.in_thread(self.outbox.pending, BATCH, after) if m.seq < boundary
            ]
            if not batch:
                return
            started = self._clock.monotonic()
            await self._publish_batch(acks, batch)
            after = batch[-1].seq
            # Rate limit: the 4G uplink is shared with live data; a week of backlog must not crowd it out.
            elapsed = self._clock.monotonic() - started
            await self._clock.sleep(len(batch) / self.config.replay_rate - elapsed)

    async def _publish_live(self, acks: PubackWaiter, boundary: int) -> None:
        after = boundary - 1
        self._live.doubt()  # a new connection: the outbox says what is left
        while True:
            batch = self._live.take(after, BATCH)  # what was just stored, without reading it back
            if batch is None:
                batch = await self.outbox.in_thread(self.outbox.pending, BATCH, after)
                if not batch:
                    self._live.caught_up()
            if batch:
                await self._publish_batch(acks, batch)
                after = batch[-1].seq
                continue
            self._wake.clear()
            try:
                async with asyncio.timeout(1.0):
                    await self._wake.wait()
            except TimeoutError:
                self._live.doubt()  # idle for a second: look at the outbox for anything a wake-up missed
                await self._write("acknowledgements", self.outbox.flush_acks)  # no append took them along

    async def _retry_parked(self, acks: PubackWaiter) -> None:
        """Send parked messages (refused before, or re-queued by a technician), each after its own back-off.

        The only task that sends them, so no two tasks ever count the same refusal; the retry times are its
        own too (monotonic, so a wall-clock step never holds a message back)."""
        due: dict[int, float] = {}
        while True:
            self._parked.clear()  # before reading: a message parked from now on sets it again
            parked = await self.outbox.in_thread(self.outbox.parked, BATCH)
            now = self._clock.monotonic()
            # Newly seen: a re-queued one (no refusals) at once, a refused one after its back-off.
            due = {
                m.seq: due[m.seq] if m.seq in due else now + (self._retry_backoff.delay(n) if n else 0.0)
                for m, n in parked
            }
            ready = [m for m, _attempts in parked if due[m.seq] <= now]
            if ready:
                await self._publish_batch(acks, ready)
                for m in ready:
                    del due[m.seq]  # refused again: a new back-off from its new count
                continue
            if due:  # the next retry (one parked meanwhile is seen then: within the back-off's cap)
                await self._clock.sleep(min(due.values()) - now)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PARKED_POLL_S):
                    await self._parked.wait()

    async def _take_receipts(self, client: aiomqtt.Client) -> None:
        """Delete what the backend's receipts confirm; park for the retry path what they show was skipped."""
        grace_s = self.config.receipt_grace.total_seconds()
        # A lost connection ends this task quietly: the publishing tasks settle every outcome of their
        # batch first and then raise it themselves (raising here would cancel them halfway).
        with contextlib.suppress(aiomqtt.MqttError):
            await self._receipts_until_lost(client, grace_s)

    async def _receipts_until_lost(self, client: aiomqtt.Client, grace_s: float) -> None:
        async for message in client.messages:
            try:
                receipt = decode(message.payload, topic=str(message.topic), topics=self.topics)
            except ContractError as exc:
                logger.warning("ignored a message on %s that is not a receipt: %s", message.topic, exc)
                continue
            if not isinstance(receipt, Receipt) or receipt.gateway != self.identity.gateway:
                continue  # another gateway's (the site changed hands), or another kind
            ranges = [(r.first, r.last) for r in receipt.seqs]
            written, done = await self._write(
                "a receipt", self.outbox.confirm, ranges, grace_s=grace_s, resends=self.config.receipt_resends
            )
            if not written or done is None:
                continue  # disk full: the messages wait; a later receipt or a resend settles them
            self.stats.receipts_total += 1
            if done.resent:
                self.stats.resent_total += len(done.resent)
                logger.warning(
                    "%d message(s) the broker acknowledged never reached the backend (a receipt from %s "
                    "confirms later ones): sending them again (seq %s%s)",
                    len(done.resent),
                    receipt.source,
                    ", ".join(map(str, done.resent[:10])),
                    ", ..." if len(done.resent) > 10 else "",
                )
                self._parked.set()
            if done.let_go:
                logger.warning(
                    "%d message(s) sent %d times without a receipt: let go (counted in unreceipted_total)",
                    done.let_go,
                    self.config.receipt_resends + 1,
                )

    async def _publish_batch(self, acks: PubackWaiter, batch: list[OutboxMessage]) -> None:
        """Publish a batch with up to IN_FLIGHT unacknowledged at once; ack the accepted ones in one
        transaction and hand the refused ones to the outbox's refusal count."""
        if not batch:
            return
        # Claimed and handed to the client with no await in between: the streams interleave only at
        # awaits, so the broker receives retained messages of a topic in the order they were claimed.
        retain = [self._claim_retain(m) for m in batch]
        properties = self.config.message_properties()
        # Every outcome is settled, even when the connection drops halfway (a broker may close it right after
        # a refusal): what was acknowledged leaves, what was refused is counted, the rest is sent again.
        outcomes = await acks.publish_many(
            [(m.topic, m.payload, r) for m, r in zip(batch, retain, strict=True)],
            properties=properties,
            timeout=PUBACK_TIMEOUT_S,
        )
        failed = [o for o in outcomes if isinstance(o, aiomqtt.MqttError)]
        sent = [(m, r) for m, r, outcome in zip(batch, retain, outcomes, strict=True) if outcome is None]
        retained = [(m.topic, m.seq) for m, r in sent if r]
        await self._acknowledge([m.seq for m, _r in sent], retained)
        self.stats.published_total += len(sent)
        for m, _r in sent:
            if (outage := self._refusing.pop(m.topic, None)) is not None:
                outage.recovered()
        refused = [(m, o) for m, o in zip(batch, outcomes, strict=True) if isinstance(o, ReasonCode)]
        if refused:
            await self._on_refused(refused)
        if failed:
            raise failed[0]

    async def _on_refused(self, refused: list[tuple[OutboxMessage, ReasonCode]]) -> None:
        self.stats.refused_total += len(refused)
        # The broker holds nothing of a refused retained message: give its topic's claim back, or its
        # retry (and any older message of the topic) would go out not retained.
        if any(m.retain for m, _code in refused):
            acked = await self.outbox.in_thread(self.outbox.retained_seqs)
            for m, _code in refused:
                if self._retained.get(m.topic) == m.seq:
                    self._retained[m.topic] = acked.get(m.topic, -1)
        for m, code in refused:
            detail = f"{code} (0x{code.value:02x}) for seq {m.seq}"
            self._refusing.setdefault(
                m.topic, Outage(f"publishing to {m.topic}", logger, self._clock)
            ).failed(
                f"the broker refuses it: {detail}; after {self.config.dead_letter_after} refusals a message "
                "goes to the dead letters (`pantau gateway dead-letters`), the rest flows on"
            )
        refusals = [Refusal(m.seq, code.value, str(code)) for m, code in refused]
        limit = self.config.dead_letter_after
        # Not counted while the disk is full: the message stays queued and is sent again after a reconnect.
        _written, moved = await self._write("counting refusals", self.outbox.refuse, refusals, limit=limit)
        self._parked.set()
        if moved:
            logger.debug("moved to the dead letters: seq %s", ", ".join(map(str, moved)))

    async def _acknowledge(self, seqs: list[int], retained: list[tuple[str, int]]) -> None:
        """What the broker has leaves the outbox with its next transaction (Outbox.ack_later: usually the
        next poll cycle's append, else the live stream's idle look-out); the outbox keeps the acknowledgement
        queued while it cannot write it (disk full)."""
        self.outbox.ack_later(seqs, retained)

    async def _write(
        self, what: str, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> tuple[bool, T | None]:
        """An outbox write in a thread: (True, its result), or (False, None) when the outbox refuses it
        (logged as an outbox outage, once when it begins and once when a write succeeds again)."""
        try:
            result = await self.outbox.in_thread(call, *args, **kwargs)
        except OutboxError as exc:
            self._outbox_failed(what, exc)
            return False, None
        self._outbox_outage.recovered()
        return True, result

    def _outbox_failed(self, what: str, exc: OutboxError) -> None:
        self._outbox_outage.failed(f"{what} not written: {exc}; publishing what the outbox holds goes on")

    def _claim_retain(self, message: OutboxMessage) -> bool:
        """Retain `message` if it is the newest sent on its topic so far (and remember that it is)."""
        if not message.retain or message.seq <= self._retained.get(message.topic, -1):
            return False
        self._retained[message.topic] = message.seq
        return True

    def online_status(self) -> Builder:
        """A retained `online` gateway status carrying the outbox's current depth, age and drops."""
        topic = self.topics.gateway_status(self.identity.site)
        state = self.outbox.state()
        outbox = OutboxStats(
            depth=state.depth,
            dropped_total=state.dropped_total,
            oldest_ts=_utc(state.oldest_created),
            dead_letters=state.dead_letters,
            dead_lettered_total=state.dead_lettered_total,
            awaiting_receipt=state.awaiting_receipt,
            unreceipted_total=state.unreceipted_total,
        )
        return lambda seq: (topic, encode(self._status(seq, "online", None, outbox)), True)

    def _status(
        self,
        seq: int,
        state: Literal["online", "offline"],
        reason: str | None,
        outbox: OutboxStats | None = None,
    ) -> GatewayStatus:
        return GatewayStatus(
            site=self.identity.site,
            gateway=self.identity.gateway,
            seq=seq,
            ts=self._clock.now(),
            state=state,
            reason=reason,
            software_version=__version__,
            started_at=dated(self.identity.started_at),
            outbox=outbox,
            clock=self._clock_sanity.check(),
        )


def _utc(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None
