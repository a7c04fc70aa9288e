"""The demo's live status line: readings per second, vehicles, alerts and what waits in the outboxes.

On a terminal it rewrites one line every second (log lines clear it first, so they never mix); piped into
a file it writes a plain line every `quiet_every` seconds instead. Every alert that starts, changes level
or ends gets a line of its own, with the rule's message, so the storm can be followed as it happens.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from typing import Final, TextIO

from backend.worker import BackendWorker
from gateway.runtime import Gateway
from pantau.contract import AlertTransition

CLEAR_LINE: Final = "\r\x1b[K"


@dataclass(frozen=True)
class Snapshot:
    readings: int
    vehicles: int
    firing: int
    pending: int
    transitions: int
    outbox: int
    dead_letters: int


def snapshot(worker: BackendWorker, outbox_depth: int) -> Snapshot:
    accepted = worker.pipeline.stats.accepted
    active = worker.rules.active() if worker.rules is not None else []
    return Snapshot(
        readings=accepted["readings"],
        vehicles=accepted["vehicle"],
        firing=sum(1 for a in active if a.state == "firing"),
        pending=sum(1 for a in active if a.state == "pending"),
        transitions=worker.rules.transitions_total if worker.rules is not None else 0,
        outbox=outbox_depth,
        dead_letters=sum(worker.pipeline.stats.dead.values()),
    )


def render(now: Snapshot, rate: float, elapsed: float) -> str:
    """One line, e.g. `02:13  readings 3.1/s (412) · vehicles 44 · alerts 5 firing, 1 pending · outbox 0`."""
    minutes, seconds = divmod(int(elapsed), 60)
    parts = [
        f"{minutes:02d}:{seconds:02d}",
        f"readings {rate:.1f}/s ({now.readings})",
        f"vehicles {now.vehicles}",
        f"alerts {now.firing} firing, {now.pending} pending ({now.transitions} transitions)",
        f"outbox {now.outbox}",
    ]
    if now.dead_letters:
        parts.append(f"dead letters {now.dead_letters}")
    return "  ·  ".join(parts)


#: alert id -> (state, level): what the last look at the active alerts saw.
Seen = dict[str, tuple[str, str | None]]


def alert_changes(seen: Seen, active: list[AlertTransition]) -> tuple[list[str], Seen]:
    """Lines for alerts that appeared, moved (state or level) or ended since `seen`; the new `seen`."""
    now: Seen = {a.alert_id: (a.state, a.level) for a in active}
    lines = [
        f"alert {a.state:<8} {'/'.join(p for p in (a.device, a.channel) if p) or a.rule}: {a.message}"
        for a in active
        if seen.get(a.alert_id) != now[a.alert_id] and a.state in ("firing", "pending")
    ]
    lines.extend(f"alert {'ended':<8} {alert_id}" for alert_id in seen if alert_id not in now)
    return lines, now


class StatusLine:
    def __init__(
        self,
        worker: BackendWorker,
        gateways: list[Gateway],
        out: TextIO = sys.stdout,
        *,
        interactive: bool | None = None,
        quiet_every: float = 10.0,
    ) -> None:
        self.worker = worker
        self.gateways = gateways
        self.out = out
        self.interactive = out.isatty() if interactive is None else interactive
        self.quiet_every = quiet_every

    async def run(self) -> None:
        started = last_at = time.monotonic()
        last_printed = started
        last = snapshot(self.worker, 0)
        seen: Seen = {}
        if self.interactive:
            _clear_before_logging()
        try:
            while True:
                await asyncio.sleep(1.0)
                depth = sum(await asyncio.gather(*(self._outbox(g) for g in self.gateways)))
                now, at = snapshot(self.worker, depth), time.monotonic()
                # Messages arrive in batches: a rate over the last few seconds reads steadier than per second.
                rate = (now.readings - last.readings) / max(at - last_at, 1e-3)
                line = render(now, rate, at - started)
                if self.worker.rules is not None:
                    changes, seen = alert_changes(seen, self.worker.rules.active())
                    for change in changes:
                        self.out.write((CLEAR_LINE if self.interactive else "") + change + "\n")
                if self.interactive:
                    self.out.write(CLEAR_LINE + line)
                    self.out.flush()
                elif at - last_printed >= self.quiet_every:
                    self.out.write(line + "\n")
                    self.out.flush()
                    last_printed = at
                if at - last_at >= 5.0:
                    last, last_at = now, at
        finally:
            if self.interactive:
                self.out.write("\n")
                self.out.flush()

    @staticmethod
    async def _outbox(gateway: Gateway) -> int:
        state = await asyncio.to_thread(gateway.outbox.state)
        return state.depth


class _ClearingFormatter(logging.Formatter):
    """Starts every log line by clearing the status line that stands where it will be written."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return CLEAR_LINE + self.inner.format(record)


def _clear_before_logging() -> None:
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        if stream is not None and stream.isatty() and not isinstance(handler.formatter, _ClearingFormatter):
            handler.setFormatter(_ClearingFormatter(handler.formatter))
