"""Polling one Modbus device: plan the reads, run them on its bus, decode every channel with its quality.

A failed request costs only its own channels. A device that rejects a merged read with exception 2
(illegal data address: the read spans registers it does not map) is re-planned with smaller requests,
and the smaller plan is remembered for as long as the process runs.

Some cheap transmitters do not answer such a read at all. So when a merged read that reads through
unmapped registers times out, its first channel is asked alone, then the merged read once more. The
channel silent too: the device stopped answering, and the rest of the poll is skipped. The channel
answering and the merged read silent again: it is too much for this device, re-planned as above. Both
answering: the timeout was noise on the line. A device that stays silent is probed only every PROBE_EVERY
polls, so a dead one costs one timeout per poll, not two. Every timeout counts as a failed request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

from drivers.modbus.bus import BusError, ExceptionResponse, ModbusBus, RequestTimeout, TransportError
from drivers.modbus.config import ChannelSpec, ModbusProfile
from drivers.modbus.decoder import DeviceDecoder, RawResult, ReadFailure
from drivers.modbus.planner import CostModel, Limits, Request, Span, plan_reads
from pantau.contract import Reading

logger = logging.getLogger(__name__)

#: Modbus exception 2: illegal data address. 5/6: acknowledge / device busy, worth a retry.
ILLEGAL_DATA_ADDRESS = 2
BUSY_CODES = frozenset({5, 6})
BUSY_RETRIES = 2
#: A device silent for this many polls in a row has its merged read probed once more (module docstring).
PROBE_EVERY = 10


class Caution(IntEnum):
    """How conservatively to merge reads; raised one step each time a merged read is rejected."""

    AS_CONFIGURED = 0
    NO_GAPS = 1  # merge only registers that touch
    ONE_PER_CHANNEL = 2


@dataclass(frozen=True, slots=True)
class PollResult:
    ts: datetime
    readings: dict[str, Reading]
    requests: int
    failed_requests: int
    duration_s: float


@dataclass
class ModbusDevice:
    """One device on a bus, polled with a profile."""

    profile: ModbusProfile
    bus: ModbusBus
    unit_id: int
    params: Mapping[str, float] = field(default_factory=dict)
    costs: CostModel = field(default_factory=CostModel.fewest_requests)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    caution: Caution = Caution.AS_CONFIGURED

    def __post_init__(self) -> None:
        self._decoder = DeviceDecoder(self.profile, self.params)
        self._specs = {spec.id: spec for spec in self.profile.channels}
        #: Polls in a row with no answer at all (0: answered in its last poll, or never polled).
        self._silent_polls = 0

    def plan(self, keys: list[str] | None = None) -> list[Request]:
        """The requests one poll makes at the current caution level (all channels unless `keys`)."""
        chosen = [self._specs[k] for k in keys] if keys is not None else list(self._specs.values())
        spans = [
            Span(spec.id, spec.table, self.profile.wire_address(spec), spec.register_count) for spec in chosen
        ]
        limits = Limits(max_registers=self.profile.max_registers_per_request, max_gap=self.profile.max_gap)
        if self.caution >= Caution.NO_GAPS:
            limits = Limits(max_registers=limits.max_registers, max_gap=0)
        if self.caution >= Caution.ONE_PER_CHANNEL:
            return [Request(s.table, s.start, s.count, (s.key,)) for s in spans]
        return plan_reads(spans, limits, self.costs)

    async def poll(self) -> PollResult:
        """Read and decode every channel; never raises for device or bus trouble (it shows in quality)."""
        ts = self.clock()
        started = time.monotonic()
        raw: dict[str, RawResult] = {}
        requests = failed = 0
        answered = False
        probed: set[Request] = set()  # merged reads being tried again after a timeout
        pending = self.plan()
        while pending:
            request = pending.pop(0)
            requests += 1
            try:
                words = await self._read_with_busy_retry(request)
            except ExceptionResponse as exc:
                if exc.code == ILLEGAL_DATA_ADDRESS and self._can_split(request):
                    self._raise_caution(request)
                    pending = self.plan(self._unread(raw))
                    continue
                failed += 1
                _fail(raw, request, ReadFailure(exc.reason, str(exc)))
            except RequestTimeout as exc:
                failed += 1
                if request in probed and answered:
                    # Its first channel answered alone; the merged read is silent again: too much for it.
                    self._raise_caution(request, "stayed silent on")
                    pending = self.plan(self._unread(raw))
                    continue
                if (
                    request not in probed
                    and self._can_split(request)
                    and self._reads_through_gap(request)
                    and self._probe_due(answered)
                ):
                    probed.add(request)
                    pending[:0] = [self._first_alone(request), request]
                    continue
                _fail(raw, request, ReadFailure(exc.reason, str(exc)))
                # A device that stopped answering would cost a full timeout per remaining request and hold
                # the shared bus; skip the rest of this poll instead.
                _skip(
                    raw, pending, ReadFailure(exc.reason, "skipped: the device stopped answering this poll")
                )
                pending = []
            except TransportError as exc:
                failed += 1
                _fail(raw, request, ReadFailure(exc.reason, str(exc)))
                _skip(raw, pending, ReadFailure(exc.reason, str(exc)))
                pending = []
            except BusError as exc:
                failed += 1
                _fail(raw, request, ReadFailure(exc.reason, str(exc)))
            else:
                answered = True
                self._slice(raw, request, words)
        self._silent_polls = 0 if answered else self._silent_polls + 1
        readings = self._decoder.decode(raw)
        return PollResult(ts, readings, requests, failed, time.monotonic() - started)

    async def _read_with_busy_retry(self, request: Request) -> list[int]:
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return await self.bus.read(request.table, request.start, request.count, self.unit_id)
            except ExceptionResponse as exc:
                if exc.code not in BUSY_CODES or attempt == BUSY_RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _can_split(self, request: Request) -> bool:
        return len(request.keys) > 1 and self.caution < Caution.ONE_PER_CHANNEL

    def _probe_due(self, answered_this_poll: bool) -> bool:  # noqa: FBT001
        return answered_this_poll or self._silent_polls % PROBE_EVERY == 0

    def _reads_through_gap(self, request: Request) -> bool:
        """Whether `request` reads registers none of its channels maps (what a strict device may refuse)."""
        mapped = {
            address
            for key in request.keys
            for address in range(
                self.profile.wire_address(self._specs[key]),
                self.profile.wire_address(self._specs[key]) + self._specs[key].register_count,
            )
        }
        return any(address not in mapped for address in range(request.start, request.end))

    def _first_alone(self, request: Request) -> Request:
        spec = self._specs[request.keys[0]]
        return Request(request.table, self.profile.wire_address(spec), spec.register_count, (spec.id,))

    def _raise_caution(self, request: Request, how: str = "rejected (exception 2)") -> None:
        self.caution = Caution(self.caution + 1)
        logger.warning(
            "unit %d (%s) %s a merged read of %s %d..%d; reading more cautiously (%s)",
            self.unit_id,
            self.profile.id,
            how,
            request.table,
            request.start,
            request.end - 1,
            self.caution.name.lower(),
        )

    def _unread(self, raw: Mapping[str, RawResult]) -> list[str]:
        return [key for key in self._specs if key not in raw]

    def _slice(self, raw: dict[str, RawResult], request: Request, words: list[int]) -> None:
        for key in request.keys:
            spec: ChannelSpec = self._specs[key]
            offset = self.profile.wire_address(spec) - request.start
            raw[key] = words[offset : offset + spec.register_count]


def _fail(raw: dict[str, RawResult], request: Request, failure: ReadFailure) -> None:
    for key in request.keys:
        raw[key] = failure


def _skip(raw: dict[str, RawResult], pending: list[Request], failure: ReadFailure) -> None:
    for request in pending:
        _fail(raw, request, failure)
