"""The API's token buckets on a virtual clock: a burst, then Retry-After until the refill; bounded memory."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.api.ratelimit import RateLimiter
from backend.config.api import RateLimit
from pantau.resilience import VirtualClock

T0 = datetime(2026, 12, 1, tzinfo=UTC)


async def test_a_burst_then_retry_after_until_the_bucket_refills() -> None:
    clock = VirtualClock(T0)
    limiter = RateLimiter(RateLimit(burst=3, per_minute=6), clock, max_clients=100)  # one per 10 s
    assert [limiter.take("10.0.0.1") for _ in range(3)] == [None, None, None]
    assert limiter.take("10.0.0.1") == 10
    assert limiter.take("10.0.0.2") is None, "another client has its own bucket"
    await clock.advance(4)
    assert limiter.blocked("10.0.0.1") == 6, "a refused call spends nothing; the wait shrinks"
    await clock.advance(6)
    assert limiter.take("10.0.0.1") is None
    assert limiter.take("10.0.0.1") == 10
    await clock.advance(3600)
    assert [limiter.take("10.0.0.1") for _ in range(4)] == [None, None, None, 10], "refills to burst only"
    await clock.aclose()


async def test_spend_counts_failures_and_never_goes_below_empty() -> None:
    clock = VirtualClock(T0)
    limiter = RateLimiter(RateLimit(burst=2, per_minute=60), clock, max_clients=100)  # one per second
    for _ in range(50):
        limiter.spend("a")
    assert limiter.blocked("a") == 1, "fifty failures lock the address for one refill, not fifty"
    await clock.advance(1)
    assert limiter.blocked("a") is None
    await clock.aclose()


def test_memory_is_bounded_by_max_clients() -> None:
    clock = VirtualClock(T0)
    limiter = RateLimiter(RateLimit(burst=1, per_minute=1), clock, max_clients=100)
    for n in range(10_000):
        limiter.spend(f"client-{n}")
    assert len(limiter) == 100
    assert limiter.blocked("client-9999") is not None, "the most recent are remembered"
    assert limiter.blocked("client-0") is None, "the oldest were forgotten"
