"""What a record stream tells the backend besides vehicles: its health, and samples of what it refused.

    StreamHealth    the device status of one stream (link state since when, frames, rejects), built when
                    the link comes up or goes down and every status interval, so reject counts stay current
    RejectSampler   which refused frames go to the backend: the first of each kind (reason and field), then
                    at most one per kind per interval, with the count of those not sent, so a babbling line
                    (a wrong baud rate produces a reject per line) costs a few messages an interval
    RejectReports   the sampler's picks waiting for the outbox, and the `record_reject` messages made of them

Every reject is counted (`StreamCounters.malformed`, `DeviceStatus.rejected_total`); only samples travel.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from drivers.serial_records.rejects import Reject
from drivers.serial_records.stream import StreamCounters
from gateway.outbox import Builder
from pantau.contract import DeviceStatus, RecordReject, Topics, encode
from pantau.resilience import Clock

#: Distinct kinds tracked per stream; beyond it (a layout with very many fields all failing) rejects share
#: one kind per reason, so the sampler's memory stays bounded whatever arrives.
MAX_KINDS: Final = 64
#: Samples waiting for the outbox; the sampler's rate limit keeps this far from full in practice.
MAX_PENDING: Final = 256
_DETAIL_CHARS: Final = 256
_LABEL_CHARS: Final = 64


@dataclass(frozen=True, slots=True)
class Sample:
    """A reject chosen to go to the backend, with the count of same-kind rejects not sent before it."""

    reject: Reject
    unsampled: int


@dataclass(slots=True)
class _Kind:
    sent_at: float
    unsampled: int = 0


class RejectSampler:
    """Pure rate limiting on the injected clock (monotonic): `offer` says whether a reject is sent."""

    def __init__(self, interval_s: float, clock: Clock) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._kinds: dict[tuple[str, str | None], _Kind] = {}

    def offer(self, reject: Reject) -> Sample | None:
        """A Sample when this reject is the first of its kind or its kind's interval has passed, else None."""
        key = reject.kind
        if key not in self._kinds and len(self._kinds) >= MAX_KINDS:
            key = (reject.reason, None)
        now = self.clock.monotonic()
        kind = self._kinds.get(key)
        if kind is not None and now - kind.sent_at < self.interval_s:
            kind.unsampled += 1
            return None
        unsampled = kind.unsampled if kind is not None else 0
        self._kinds[key] = _Kind(sent_at=now)
        return Sample(reject, unsampled)


class RejectReports:
    """The samples of one stream on their way to the outbox (`offer` is the stream's `on_reject`)."""

    def __init__(
        self, sampler: RejectSampler, *, site: str, device: str, gateway: str, topics: Topics
    ) -> None:
        self.sampler = sampler
        self.site, self.device, self.gateway = site, device, gateway
        self.topic = topics.record_rejects(site, device)
        self.pending: deque[Sample] = deque(maxlen=MAX_PENDING)
        self._ready = asyncio.Event()

    def offer(self, reject: Reject) -> None:
        sample = self.sampler.offer(reject)
        if sample is not None:
            self.pending.append(sample)
            self._ready.set()

    async def take(self) -> list[Builder]:
        """Wait for samples; the builders of every one waiting."""
        await self._ready.wait()
        self._ready.clear()
        samples = list(self.pending)
        self.pending.clear()
        return [self._builder(sample) for sample in samples]

    def _builder(self, sample: Sample) -> Builder:
        reject = sample.reject

        def build(seq: int) -> tuple[str, bytes, bool]:
            message = RecordReject(
                site=self.site,
                device=self.device,
                gateway=self.gateway,
                seq=seq,
                ts=reject.at,
                reason=reject.reason,
                field=reject.field[:_LABEL_CHARS] if reject.field else None,
                problem=reject.problem[:_DETAIL_CHARS] or reject.reason,
                excerpt=reject.excerpt,
                frame_bytes=reject.frame_bytes,
                unsampled=sample.unsampled,
            )
            return self.topic, encode(message), False

        return build


class StreamHealth:
    """The device status of one record stream: `ok` while the link is up, `failing` while it is down."""

    def __init__(
        self, counters: StreamCounters, *, site: str, device: str, gateway: str, topics: Topics, clock: Clock
    ) -> None:
        self.counters = counters
        self.site, self.device, self.gateway = site, device, gateway
        self.topic = topics.device_status(site, device)
        self.clock = clock
        self._connected: bool | None = None
        self._since = clock.now()

    @property
    def known(self) -> bool:
        """Whether the link has come up or failed at least once (before that there is nothing to say)."""
        return self.counters.connects > 0 or self.counters.link_failures > 0

    def link_moved(self, counters: StreamCounters) -> bool:
        """Whether the link went up or down since the last status (a `wait_until` predicate)."""
        return (counters.connects > 0 or counters.link_failures > 0) and counters.connected != self._connected

    def changed(self) -> bool:
        """Whether the link went up or down since the last status; remembers since when."""
        if not self.link_moved(self.counters):
            return False
        self._connected, self._since = self.counters.connected, self.clock.now()
        return True

    def builder(self) -> Builder:
        """The status as it is now (the counters are read now, not when the outbox numbers it)."""
        c = self.counters
        ts, since, up = self.clock.now(), self._since, c.connected
        detail = None if up else (c.last_error or "link down")[:_DETAIL_CHARS]
        last_success: datetime | None = c.last_record_at
        frames, rejected, failures = c.frames, c.malformed, c.link_failures

        def build(seq: int) -> tuple[str, bytes, bool]:
            status = DeviceStatus(
                site=self.site,
                device=self.device,
                gateway=self.gateway,
                seq=seq,
                ts=ts,
                state="ok" if up else "failing",
                since=since,
                last_success=last_success,
                consecutive_failures=0 if up else failures,
                reason=None if up else "connection",
                detail=detail,
                requests_total=frames,
                errors_total=rejected,
                rejected_total=rejected,
            )
            return self.topic, encode(status), True

        return build
