"""Triage of one MQTT message: a contract message with its storage points, or a dead letter with the reason.

Pure: no I/O, so the rules for what is accepted are table-tested without a broker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.config import DEFAULT_CLOCK_SKEW
from backend.ingest.clock_skew import check_time
from backend.ingest.receipts import Sender
from backend.ingest.record_rejects import RECORD_REJECT, describe_reject
from backend.ingest.senders import SenderCheck
from backend.ingest.spool import DeadLetter
from backend.storage.influx.line_protocol import reading_lines
from backend.storage.model import Point
from backend.storage.schema import time_ns, to_points, wire_readings_points
from pantau.contract import ContractError, Message, RecordReject, Topics, decode
from pantau.contract.fast import decode_readings


class Accepted:
    """A valid message as the points it is stored as. Readings taken by the contract's fast path have no
    contract model: `message` decodes one from the payload when asked (tests, a rules feed), never on
    ingest's own path."""

    __slots__ = ("_message", "_payload", "kind", "points", "sender")

    def __init__(
        self,
        kind: str,
        points: list[Point],
        message: Message | None,
        payload: bytes = b"",
        sender: Sender | None = None,
    ) -> None:
        self.kind = kind
        self.points = points
        self._message = message
        self._payload = payload
        #: (site, gateway, seq) for the gateway's receipt (backend/ingest/receipts.py); None: not a
        #: gateway's message.
        self.sender = sender

    @property
    def message(self) -> Message:
        if self._message is None:
            self._message = decode(self._payload)
        return self._message


def triage(
    topic: str,
    payload: bytes,
    topics: Topics,
    received_at: float,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    *,
    senders: SenderCheck | None = None,
    write_lines: bool = False,
) -> Accepted | DeadLetter | None:
    """Decode and check one message; a time more than `clock_skew` ahead of `received_at` is marked
    (backend/ingest/clock_skew.py), and, given `senders`, a message the site inventory does not vouch for
    is a dead letter (backend/ingest/senders.py). None for an empty payload: someone cleared a retained
    topic, which is an administrative act on the broker, not data (and not garbage either). With
    `write_lines` (storage speaks line protocol), readings on the fast path carry their lines, written
    while the message is at hand."""
    if not payload:
        return None
    fast = _fast_path(
        topic, payload, topics, received_at, clock_skew=clock_skew, senders=senders, write_lines=write_lines
    )
    if fast is not None:
        return fast
    try:
        message = decode(payload, topic=topic, topics=topics)
    except ContractError as exc:
        return DeadLetter(topic, exc.reason, str(exc), payload, len(payload), received_at)
    # Before the record_reject branch: a spoofed reject sample is spoofed data like any other.
    refusal = senders.refuse(message) if senders is not None else None
    if refusal is not None:
        return DeadLetter(topic, refusal.reason, refusal.detail, payload, len(payload), received_at)
    if isinstance(message, RecordReject):
        # A gateway's sample of a frame its record stream refused: valid as a message, but what it carries
        # is a rejected record, so it joins the backend's own rejections for a person to look at.
        return DeadLetter(topic, RECORD_REJECT, describe_reject(message), payload, len(payload), received_at)
    message = check_time(message, datetime.fromtimestamp(received_at, UTC), clock_skew)
    gateway, seq = getattr(message, "gateway", None), getattr(message, "seq", None)
    sender = (message.site, gateway, seq) if isinstance(gateway, str) and isinstance(seq, int) else None
    return Accepted(message.kind, to_points(message), message, sender=sender)


def _fast_path(
    topic: str,
    payload: bytes,
    topics: Topics,
    received_at: float,
    *,
    clock_skew: timedelta,
    senders: SenderCheck | None,
    write_lines: bool,
) -> Accepted | DeadLetter | None:
    """Readings the contract's fast path takes (nearly all traffic), straight to points; None leaves the
    message to `decode`, which also marks a time too far ahead (check_time) on the contract model."""
    fast = decode_readings(payload, topic, topics)
    if fast is None:
        return None
    wire, at = fast
    if at - datetime.fromtimestamp(received_at, UTC) > clock_skew:
        return None
    refusal = senders.refuse_ids(wire.site, wire.gateway, wire.device) if senders is not None else None
    if refusal is not None:
        return DeadLetter(topic, refusal.reason, refusal.detail, payload, len(payload), received_at)
    lines = reading_lines(wire, time_ns(at)) if write_lines else None
    sender = (wire.site, wire.gateway, wire.seq)
    return Accepted("readings", wire_readings_points(wire, at, lines), None, payload, sender)
