"""The one back-off: capped, jittered, and impossible to overflow however long an outage lasts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantau.resilience import Backoff


@given(
    attempt=st.integers(min_value=-5, max_value=10**7),
    base=st.floats(min_value=1e-6, max_value=60),
    cap=st.floats(min_value=0, max_value=86_400),
)
def test_no_attempt_count_overflows_or_escapes_the_cap(attempt: int, base: float, cap: float) -> None:
    backoff = Backoff(base=base, cap=cap, rng=random.Random(attempt))  # noqa: S311 - seeded
    wait = backoff.delay(attempt)
    assert 0.0 <= wait <= max(cap, 0.0) or wait <= base
    assert backoff.ceiling(attempt) <= max(cap, base)


def test_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=60)
    assert [backoff.ceiling(n) for n in range(10)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff.ceiling(1024) == backoff.ceiling(10**7) == 60  # 2**1024 raised OverflowError on main


def test_a_million_failures_in_a_row_keep_waiting_at_most_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=0.001, rng=random.Random(1))  # noqa: S311 - reconnect_cap 1ms
    waits = [backoff.next_delay() for _ in range(1_000_000)]
    assert backoff.attempts == 1_000_000
    assert max(waits) <= 0.001
    backoff.reset()
    assert backoff.attempts == 0


def test_jitter_spreads_a_fleet() -> None:
    waits = [Backoff(base=1, cap=60, rng=random.Random(seed)).delay(6) for seed in range(200)]  # noqa: S311
    assert min(waits) < 10 and max(waits) > 50  # uniform over [0, 60], not 200 gateways in step


@pytest.mark.parametrize(("base", "cap"), [(0, 1), (-1, 1), (1, float("inf")), (float("nan"), 1)])
def test_nonsense_settings_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="back-off needs"):
        Backoff(base=base, cap=cap)
