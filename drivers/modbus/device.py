"""Polling one Modbus device: plan the reads, run them on its bus, decode every channel with its quality.

The plan is made once and kept. A failed request costs only its own channels. A device that rejects a
merged read with exception 2 (illegal data address: the read spans registers it does not map) has that
read re-planned with smaller requests (the rest of the plan stays as it is), and the smaller requests are
remembered for as long as the process runs. Channels that share registers always share a request.

Some cheap transmitters do not answer such a read at all. So when a merged read that reads through
unmapped registers times out, its first channel is asked alone, then the merged read once more. The
channel silent too: the device stopped answering, and the rest of the poll is skipped. The channel
answering and the merged read silent again: it is too much for this device, re-planned as above. Both
answering: the timeout was noise on the line. A device that stays silent is probed only every PROBE_EVERY
polls, so a dead one costs one timeout per poll, not two. Every timeout counts as a failed request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from drivers.modbus.bus import BusError, ExceptionResponse, ModbusBus, RequestTimeout, TransportError
from drivers.modbus.decoder import DeviceDecoder, RawResult, ReadFailure
from drivers.modbus.errors import SILENT_UNIT_HINT
from drivers.modbus.planner import CostModel, Limits, Request, Span, one_per_register_run, plan_reads
from pantau.contract import Reading
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.resilience import SYSTEM_CLOCK, Clock

logger = logging.getLogger(__name__)

#: Modbus exception 2: illegal data address. 5/6: acknowledge / device busy, worth a retry.
ILLEGAL_DATA_ADDRESS = 2
BUSY_CODES = frozenset({5, 6})
BUSY_RETRIES = 2
#: A device silent for this many polls in a row has its merged read probed once more (module docstring).
PROBE_EVERY = 10
#: Channel details are short texts in the contract.
DETAIL_MAX = 256


class Caution(IntEnum):
    """How conservatively to merge a read; raised one step each time that merged read is rejected."""

    AS_CONFIGURED = 0
    NO_GAPS = 1  # merge only registers that touch
    ONE_PER_CHANNEL = 2  # one request per channel, except channels that share registers


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
    clock: Clock = SYSTEM_CLOCK
    #: How cautiously the plan starts; afterwards, the most cautious level any of its reads was raised to.
    caution: Caution = Caution.AS_CONFIGURED

    def __post_init__(self) -> None:
        self._decoder = DeviceDecoder(self.profile, self.params)
        self._specs = {spec.id: spec for spec in self.profile.channels}
        #: Polls in a row with no answer at all (0: answered in its last poll, or never polled).
        self._silent_polls = 0
        #: When the device last answered anything (None: not since the process started).
        self._last_answer: datetime | None = None
        #: Late replies of this unit the bus had discarded when the device last answered.
        self._late_at_last_answer = 0
        #: Per request read, where each of its channels' words lie in the reply: (channel, start, end).
        self._slices: dict[Request, tuple[tuple[str, int, int], ...]] = {}
        #: The plan, made once, each request with the caution it was planned at.
        self._plan: dict[Request, Caution] = dict.fromkeys(
            self._planned(list(self._specs), self.caution), self.caution
        )

    def plan(self) -> list[Request]:
        """The requests one poll makes (re-planned reads included)."""
        return list(self._plan)

    def _planned(self, keys: list[str], caution: Caution) -> list[Request]:
        spans = [
            Span(
                key,
                self._specs[key].table,
                self.profile.wire_address(self._specs[key]),
                self._specs[key].register_count,
            )
            for key in keys
        ]
        if caution >= Caution.ONE_PER_CHANNEL:
            return one_per_register_run(spans)
        max_gap = 0 if caution >= Caution.NO_GAPS else self.profile.max_gap
        limits = Limits(max_registers=self.profile.max_registers_per_request, max_gap=max_gap)
        return plan_reads(spans, limits, self.costs)

    async def poll(self) -> PollResult:
        """Read and decode every channel; never raises for device or bus trouble (it shows in quality)."""
        ts = self.clock.now()
        started = self.clock.monotonic()
        run = _PollRun(self.plan())
        while run.pending:
            request = run.pending.pop(0)
            if all(key in run.raw for key in request.keys):
                continue  # read already this poll (a probe asked for it alone)
            run.requests += 1
            try:
                words = await self._read_with_busy_retry(request)
            except ExceptionResponse as exc:
                if exc.code == ILLEGAL_DATA_ADDRESS and self._can_split(request):
                    run.pending[:0] = self._replan(request)
                    continue
                run.fail(request, ReadFailure(exc.reason, _short(str(exc))))
            except RequestTimeout as exc:
                self._on_timeout(run, request, exc)
            except TransportError as exc:
                run.give_up(request, ReadFailure(exc.reason, _short(str(exc))))
            except BusError as exc:
                run.fail(request, ReadFailure(exc.reason, _short(str(exc))))
            else:
                run.answered = True
                self._slice(run.raw, request, words)
        self._silent_polls = 0 if run.answered else self._silent_polls + 1
        if run.answered:
            self._last_answer = ts
            self._late_at_last_answer = self.bus.line_counters.late_replies[self.unit_id]
        readings = self._decoder.decode(run.raw)
        return PollResult(ts, readings, run.requests, run.failed, self.clock.monotonic() - started)

    def _on_timeout(self, run: _PollRun, request: Request, exc: RequestTimeout) -> None:
        run.failed += 1  # every timeout counts, including those a probe explains
        if request in run.probed and run.answered:
            # Its first channel answered alone; the merged read is silent again: too much for it.
            run.pending[:0] = self._replan(request, "stayed silent on")
            return
        if (
            request not in run.probed
            and self._can_split(request)
            and self._reads_through_gap(request)
            and self._probe_due(run.answered)
        ):
            run.probed.add(request)
            run.pending[:0] = [self._first_alone(request), request]
            return
        # A device that stopped answering would cost a full timeout per remaining request and hold the
        # shared bus; skip the rest of this poll instead. Every channel says why, with a hint.
        run.failed -= 1
        run.give_up(request, ReadFailure(exc.reason, self._silence_detail(exc)))

    async def _read_with_busy_retry(self, request: Request) -> list[int]:
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return await self.bus.read(request.table, request.start, request.count, self.unit_id)
            except ExceptionResponse as exc:
                if exc.code not in BUSY_CODES or attempt == BUSY_RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _silence_detail(self, exc: RequestTimeout) -> str:
        """What the channels of a silent device say: the bus's words and what to check next."""
        late = self.bus.line_counters.late_replies[self.unit_id] - self._late_at_last_answer
        if late:
            hint = f"it answers, but too late ({late} late replies discarded): raise the bus timeout"
        elif self._last_answer is None:
            hint = f"it has not answered since the gateway started: {SILENT_UNIT_HINT}"
        else:
            hint = f"it answered until {self._last_answer:%Y-%m-%d %H:%M:%S}Z: check its power and cable"
        return _short(f"{exc}; {hint}")

    def _can_split(self, request: Request) -> bool:
        return len(request.keys) > 1 and self._plan.get(request, self.caution) < Caution.ONE_PER_CHANNEL

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

    def _replan(self, request: Request, how: str = "rejected (exception 2)") -> list[Request]:
        """Replace `request` in the plan by a more cautious split of its channels; the split, to read now."""
        caution = Caution(self._plan.get(request, self.caution) + 1)
        split = self._planned(list(request.keys), caution)
        plan = list(self._plan.items())
        at = next((i for i, (r, _) in enumerate(plan) if r == request), len(plan))
        plan[at : at + 1] = [(r, caution) for r in split]
        self._plan = dict(plan)
        self.caution = max(self.caution, caution)
        logger.warning(
            "unit %d (%s) %s a merged read of %s %d..%d; reading those %d channels more cautiously (%s)",
            self.unit_id,
            self.profile.id,
            how,
            request.table,
            request.start,
            request.end - 1,
            len(request.keys),
            caution.name.lower(),
        )
        return split

    def _slice(self, raw: dict[str, RawResult], request: Request, words: list[int]) -> None:
        slices = self._slices.get(request)
        if slices is None:  # once per request of the plan, not per poll
            slices = self._slices[request] = tuple(
                (key, offset, offset + spec.register_count)
                for key in request.keys
                for spec in (self._specs[key],)
                for offset in (self.profile.wire_address(spec) - request.start,)
            )
        for key, start, end in slices:
            raw[key] = words[start:end]


@dataclass
class _PollRun:
    """One poll in progress: what is still to read, what was read, what failed."""

    pending: list[Request]
    raw: dict[str, RawResult] = field(default_factory=dict)
    probed: set[Request] = field(default_factory=set)  # merged reads being tried again after a timeout
    answered: bool = False
    requests: int = 0
    failed: int = 0

    def fail(self, request: Request, failure: ReadFailure) -> None:
        self.failed += 1
        _fail(self.raw, request, failure)

    def give_up(self, request: Request, failure: ReadFailure) -> None:
        """Fail `request` and every request still pending with the same failure."""
        self.fail(request, failure)
        for later in self.pending:
            _fail(self.raw, later, failure)
        self.pending = []


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def _fail(raw: dict[str, RawResult], request: Request, failure: ReadFailure) -> None:
    for key in request.keys:
        raw[key] = failure
