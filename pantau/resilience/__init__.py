"""The resilience kit: one clock, one back-off, one outage log, for every package to import.

Everything in pantau that waits, retries or stamps a time takes a `Clock` (`SYSTEM_CLOCK` in production,
`VirtualClock` where a test runs days of outage in seconds), backs off with `Backoff`, and logs a dependency
going down and coming back with `Outage`. Nothing else in the code base writes `2**n` or reads the clock
(`tests/pantau/test_resilience_lint.py` holds that line).
"""

from pantau.resilience.backoff import Backoff
from pantau.resilience.clock import SYSTEM_CLOCK, Clock, SystemClock
from pantau.resilience.outage import Outage
from pantau.resilience.virtual import VirtualClock

__all__ = ["SYSTEM_CLOCK", "Backoff", "Clock", "Outage", "SystemClock", "VirtualClock"]
