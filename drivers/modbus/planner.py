"""Read planning: merge the registers a poll needs into the cheapest set of requests.

Telegraf merges neighbouring registers greedily up to a fill limit. We solve it exactly: per table,
the needed register spans are sorted and split into consecutive groups by dynamic programming, minimising
estimated bus time = per-request overhead + per-register cost, within the device's registers-per-request
limit and an optional hard cap on unused registers read through (`max_gap`).

With a large overhead this yields the fewest requests (then the fewest registers); on a slow RTU bus the
real costs decide by themselves whether a gap is worth reading through, which is what `max_gap` guesses at.
Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from pantau.profiles.modbus.profile import MODBUS_MAX_BITS, Table

#: Bits per character on the wire for RTU: start + 8 data + parity-or-second-stop + stop.
RTU_BITS_PER_CHAR: Final = 11
#: Request frame (unit, fc, address, count, crc) and response overhead (unit, fc, byte count, crc), bytes.
RTU_REQUEST_BYTES: Final = 8
RTU_RESPONSE_OVERHEAD_BYTES: Final = 5


class PlanError(ValueError):
    """The needed registers cannot be read within the device's limits."""


@dataclass(frozen=True, slots=True)
class Span:
    """Registers [start, start + count) of one table that a channel needs."""

    key: str
    table: Table
    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count


@dataclass(frozen=True, slots=True)
class Request:
    """One read request and the channels it serves."""

    table: Table
    start: int
    count: int
    keys: tuple[str, ...]

    @property
    def end(self) -> int:
        return self.start + self.count


@dataclass(frozen=True, slots=True)
class CostModel:
    """Estimated bus time of a request: `overhead + per_register * count` (any consistent unit)."""

    overhead: float
    per_register: float

    @classmethod
    def fewest_requests(cls) -> CostModel:
        """Minimise the number of requests, then the registers read (Telegraf's goal, solved exactly)."""
        return cls(overhead=1_000_000.0, per_register=1.0)

    @classmethod
    def rtu(cls, baudrate: int, reply_delay_s: float = 0.0, turnaround_s: float = 0.0) -> CostModel:
        """Seconds on an RTU bus: both frames, the 3.5-character silences, the device's reply delay."""
        char_s = RTU_BITS_PER_CHAR / baudrate
        frames = (RTU_REQUEST_BYTES + RTU_RESPONSE_OVERHEAD_BYTES + 2 * 3.5) * char_s
        return cls(overhead=frames + reply_delay_s + turnaround_s, per_register=2 * char_s)

    def cost(self, count: int) -> float:
        return self.overhead + self.per_register * count


@dataclass(frozen=True, slots=True)
class Limits:
    max_registers: int = 125
    max_bits: int = MODBUS_MAX_BITS
    max_gap: int | None = None

    def max_count(self, table: Table) -> int:
        return self.max_bits if table.is_bits else self.max_registers


def plan_reads(spans: Iterable[Span], limits: Limits, costs: CostModel) -> list[Request]:
    """The cheapest list of requests covering every span wholly, table by table (tables ordered by FC)."""
    by_table: dict[Table, list[Span]] = {}
    for span in spans:
        by_table.setdefault(span.table, []).append(span)
    requests: list[Request] = []
    for table in sorted(by_table, key=lambda t: t.function_code):
        requests.extend(_plan_table(table, by_table[table], limits, costs))
    return requests


def _plan_table(table: Table, spans: list[Span], limits: Limits, costs: CostModel) -> list[Request]:
    blocks = _merge_overlapping(spans)
    max_count = limits.max_count(table)
    for block in blocks:
        if block.end - block.start > max_count:
            raise PlanError(
                f"{table} registers {block.start}..{block.end - 1} ({', '.join(block.keys)}) overlap into "
                f"one run of {block.end - block.start}, over the limit of {max_count} per request"
            )
    # best[j] = cheapest cost of covering blocks[:j]; choice[j] = where the last request starts.
    best = [0.0] + [float("inf")] * len(blocks)
    choice = [0] * (len(blocks) + 1)
    for j in range(1, len(blocks) + 1):
        end = blocks[j - 1].end
        for i in range(j - 1, -1, -1):
            if end - blocks[i].start > max_count:
                break
            if (
                i < j - 1
                and limits.max_gap is not None
                and blocks[i + 1].start - blocks[i].end > limits.max_gap
            ):
                break
            total = best[i] + costs.cost(end - blocks[i].start)
            if total < best[j]:
                best[j], choice[j] = total, i
    requests: list[Request] = []
    j = len(blocks)
    while j > 0:
        i = choice[j]
        group = blocks[i:j]
        start, end = group[0].start, group[-1].end
        requests.append(Request(table, start, end - start, tuple(k for b in group for k in b.keys)))
        j = i
    requests.reverse()
    return requests


def one_per_register_run(spans: Iterable[Span]) -> list[Request]:
    """The most cautious plan: nothing merged, except channels that share registers (never read twice)."""
    by_table: dict[Table, list[Span]] = {}
    for span in spans:
        by_table.setdefault(span.table, []).append(span)
    return [
        Request(table, block.start, block.end - block.start, block.keys)
        for table in sorted(by_table, key=lambda t: t.function_code)
        for block in _merge_overlapping(by_table[table])
    ]


@dataclass(frozen=True, slots=True)
class _Block:
    start: int
    end: int
    keys: tuple[str, ...]


def _merge_overlapping(spans: Sequence[Span]) -> list[_Block]:
    # Overlapping spans (a register read as a whole and as one of its bits) must share a request.
    blocks: list[_Block] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if blocks and span.start < blocks[-1].end:
            last = blocks[-1]
            blocks[-1] = _Block(last.start, max(last.end, span.end), (*last.keys, span.key))
        else:
            blocks.append(_Block(span.start, span.end, (span.key,)))
    return blocks


def plan_cost(requests: Sequence[Request], costs: CostModel) -> float:
    """Estimated bus time of a plan under `costs`."""
    return sum(costs.cost(r.count) for r in requests)
