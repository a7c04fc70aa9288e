"""Read planning: covers every channel, respects every limit, and is optimal (checked by brute force)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.planner import CostModel, Limits, PlanError, Request, Span, plan_cost, plan_reads
from pantau.profiles.modbus.profile import Table

H, INP = Table.HOLDING, Table.INPUT
FEWEST = CostModel.fewest_requests()


def spans(*items: tuple[str, int, int], table: Table = H) -> list[Span]:
    return [Span(key, table, start, count) for key, start, count in items]


def test_neighbours_merge_into_one_request() -> None:
    plan = plan_reads(spans(("a", 0, 2), ("b", 2, 1), ("c", 4, 2)), Limits(), FEWEST)
    assert plan == [Request(H, 0, 6, ("a", "b", "c"))]


def test_tables_are_planned_separately_in_function_code_order() -> None:
    plan = plan_reads(spans(("x", 0, 1), table=INP) + spans(("a", 0, 1)), Limits(), FEWEST)
    assert [(r.table, r.keys) for r in plan] == [(H, ("a",)), (INP, ("x",))]


def test_max_registers_splits() -> None:
    plan = plan_reads(spans(("a", 0, 2), ("b", 100, 2), ("c", 124, 2)), Limits(max_registers=125), FEWEST)
    assert all(r.count <= 125 for r in plan)
    # fewest registers among two-request plans: [0,2)+[100,126) = 28 registers beats [0,102)+[124,126)
    assert [r.keys for r in plan] == [("a",), ("b", "c")]


def test_max_gap_is_a_hard_cap() -> None:
    plan = plan_reads(spans(("a", 0, 1), ("b", 10, 1)), Limits(max_gap=8), FEWEST)
    assert len(plan) == 2
    plan = plan_reads(spans(("a", 0, 1), ("b", 10, 1)), Limits(max_gap=9), FEWEST)
    assert len(plan) == 1


def test_overlapping_channels_share_a_request() -> None:
    # a status word and one of its bits, read as two channels
    plan = plan_reads(
        spans(("status", 100, 1), ("pv_invalid", 100, 1), ("x", 105, 2)), Limits(max_gap=0), FEWEST
    )
    assert plan == [Request(H, 100, 1, ("status", "pv_invalid")), Request(H, 105, 2, ("x",))]


def test_an_overlapping_run_beyond_the_limit_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="over the limit of 3"):
        plan_reads(spans(("a", 0, 2), ("b", 1, 2), ("c", 2, 2)), Limits(max_registers=3), FEWEST)


def test_slow_rtu_bus_reads_through_small_gaps_but_not_large_ones() -> None:
    # VEGAPULS-like map at 9600 baud with a 50 ms reply delay: a request costs ~70 ms, a register ~2.3 ms.
    rtu = CostModel.rtu(9600, reply_delay_s=0.050)
    near = plan_reads(spans(("a", 2002, 2), ("b", 2010, 2)), Limits(), rtu)
    far = plan_reads(spans(("a", 2002, 2), ("b", 2100, 2)), Limits(), rtu)
    assert len(near) == 1  # 6 wasted registers (~14 ms) are cheaper than a second request (~70 ms)
    assert len(far) == 2  # 96 wasted registers (~220 ms) are not
    # The same maps on a fast TCP link with fewest-requests planning: one request each.
    assert len(plan_reads(spans(("a", 2002, 2), ("b", 2100, 2)), Limits(), FEWEST)) == 1


# Property: the DP equals a brute force over every partition of the channels --------------------------------


def partitions(items: list[Span]) -> Iterator[list[list[Span]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in partitions(rest):
        for i in range(len(smaller)):
            yield [*smaller[:i], [first, *smaller[i]], *smaller[i + 1 :]]
        yield [[first], *smaller]


def brute_force_cost(items: list[Span], limits: Limits, costs: CostModel) -> float:
    best = float("inf")
    for partition in partitions(items):
        total = 0.0
        for group in partition:
            start, end = min(s.start for s in group), max(s.end for s in group)
            if end - start > limits.max_registers or not _gaps_ok(group, limits):
                break
            total += costs.cost(end - start)
        else:
            best = min(best, total)
    return best


def _gaps_ok(group: list[Span], limits: Limits) -> bool:
    if limits.max_gap is None:
        return True
    covered_end = None
    for span in sorted(group, key=lambda s: s.start):
        if covered_end is not None and span.start - covered_end > limits.max_gap:
            return False
        covered_end = span.end if covered_end is None else max(covered_end, span.end)
    return True


@st.composite
def register_maps(draw: st.DrawFn) -> tuple[list[Span], Limits, CostModel]:
    count = draw(st.integers(1, 6))
    starts = draw(st.lists(st.integers(0, 40), min_size=count, max_size=count, unique=True))
    items = [Span(f"c{i}", H, start, draw(st.sampled_from([1, 2, 4]))) for i, start in enumerate(starts)]
    # Non-overlapping maps (a real register map); overlaps are merged before planning anyway.
    items.sort(key=lambda s: s.start)
    kept: list[Span] = []
    for span in items:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    items = kept
    limits = Limits(
        max_registers=draw(st.integers(4, 20)), max_gap=draw(st.one_of(st.none(), st.integers(0, 6)))
    )
    costs = draw(st.sampled_from([FEWEST, CostModel(10, 1), CostModel(3, 1), CostModel(1, 1)]))
    return items, limits, costs


@settings(max_examples=300, deadline=None)
@given(register_maps())
def test_plan_covers_respects_limits_and_is_optimal(case: tuple[list[Span], Limits, CostModel]) -> None:
    items, limits, costs = case
    plan = plan_reads(items, limits, costs)
    served = [key for request in plan for key in request.keys]
    assert sorted(served) == sorted(s.key for s in items)  # every channel exactly once
    by_key = {s.key: s for s in items}
    for request in plan:
        assert request.count <= limits.max_registers
        for key in request.keys:  # wholly inside its request
            assert request.start <= by_key[key].start and by_key[key].end <= request.end
        assert _gaps_ok([by_key[k] for k in request.keys], limits)
    assert plan_cost(plan, costs) == pytest.approx(brute_force_cost(items, limits, costs))
