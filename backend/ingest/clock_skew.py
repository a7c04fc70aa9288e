"""A message's time against its arrival: a reading dated ahead of when it arrived was stamped by a wrong
clock (a gateway RTC or GPS fix gone bad), and its time must not be believed.

Only the future is checked. A gateway's outbox backlog (its age is in every gateway status:
`outbox.oldest_ts`) makes messages arrive hours or days after their time, so a time in the past is what a
backlog looks like and is never flagged; a time ahead of the arrival cannot come from a backlog at all.
Ingest and the rules service both apply this, with the one bound of `backend.yaml` (`clock_skew`), so what
is stored and what the rules see agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from backend.config import DEFAULT_CLOCK_SKEW
from pantau.contract import Message, Quality, Readings, Reason, Vehicle, format_utc


def check_time(message: Message, arrival: datetime, allowed: timedelta = DEFAULT_CLOCK_SKEW) -> Message:
    """`message` as it is, or, when its time is more than `allowed` ahead of `arrival`, with every
    reading (or the vehicle) marked quality `clock_skew`, reason `clock_ahead`: kept and shown, but never
    used by rules or `/latest`."""
    ahead = message.ts - arrival
    if ahead <= allowed or not isinstance(message, Readings | Vehicle):
        return message
    detail = f"time {format_utc(message.ts)} is {_span(ahead)} ahead of its arrival {format_utc(arrival)}"
    if isinstance(message, Vehicle):
        if message.quality is Quality.CLOCK_SKEW:
            return message
        return message.model_copy(update={"quality": Quality.CLOCK_SKEW, "reason": Reason.CLOCK_AHEAD})
    channels = {name: r.clock_skewed(Reason.CLOCK_AHEAD, detail) for name, r in message.channels.items()}
    return message.model_copy(update={"channels": channels})


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"
