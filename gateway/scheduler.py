"""Polling: one task per bus, each device on its own interval, on a drift-free wall-clock grid.

A device polled every 10 s is read at :00, :10, :20 ... however long each poll takes; a slot missed because
the bus was busy is skipped, not made up in a burst. A dead device is retried on a stretching grid (capped)
so it costs the shared bus one timeout now and then, not one per interval. Everything read in one cycle
goes to the outbox in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

from drivers.modbus.device import ModbusDevice, PollResult
from gateway.clock_sanity import ClockSanity, dated
from gateway.outbox import Builder
from pantau.contract import DeviceStatus, Quality, Reading, Topics, encode
from pantau.contract.readings_payload import readings_payload
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock
from pantau.site.config import DeviceConfig, ReportOnChange

logger = logging.getLogger(__name__)

#: Longest a dead device waits between attempts, whatever its interval.
DEAD_DEVICE_RETRY_CAP: Final = timedelta(minutes=5)
DeviceState = Literal["ok", "degraded", "failing", "disabled"]


def next_slot(now: float, interval: float, skip: int = 0) -> float:
    """The first grid point (a multiple of `interval` since the epoch) after `now`, plus `skip` more."""
    return (math.floor(now / interval) + 1 + skip) * interval


@dataclass
class DeviceHealth:
    """What the device status message reports, kept up to date by every poll."""

    state: DeviceState = "ok"
    since: datetime = field(default_factory=SYSTEM_CLOCK.now)  # the poller sets it from its clock
    last_success: datetime | None = None
    consecutive_failures: int = 0
    requests_total: int = 0
    errors_total: int = 0
    #: RTU replies from this device that came too late and were thrown away undecoded (the bus counts them).
    discarded_replies_total: int = 0
    latency_ms: float | None = None
    reason: str | None = None
    detail: str | None = None
    reported_at: float = 0.0


@dataclass
class ScheduledDevice:
    """One Modbus device with its schedule, health and report-on-change memory."""

    config: DeviceConfig
    device: ModbusDevice
    next_due: float = 0.0
    health: DeviceHealth = field(default_factory=DeviceHealth)
    _last_sent: dict[str, Reading] = field(default_factory=dict)
    _polls_since_sent: dict[str, int] = field(default_factory=dict)

    @property
    def interval(self) -> float:
        return self.config.poll_interval.total_seconds()

    def reschedule(self, now: float) -> None:
        if self.health.state != "failing":
            self.next_due = next_slot(now, self.interval)
            return
        # Intervals to wait: 1, 2, 4 ... up to the cap (the kit's ceiling: no jitter, the grid is the point).
        stretch = Backoff(base=1.0, cap=DEAD_DEVICE_RETRY_CAP / self.config.poll_interval)
        intervals = stretch.ceiling(self.health.consecutive_failures - 1)
        self.next_due = next_slot(now, self.interval, skip=max(0, math.ceil(intervals) - 1))

    def record(self, result: PollResult) -> bool:
        """Update health from a poll; True when the state changed (worth a status message)."""
        h = self.health
        h.requests_total += result.requests
        h.errors_total += result.failed_requests
        h.discarded_replies_total = self.device.bus.line_counters.late_replies[self.device.unit_id]
        h.latency_ms = round(result.duration_s * 1000 / max(result.requests, 1), 2)
        failures = [r for r in result.readings.values() if r.quality is Quality.MISSING]
        if result.failed_requests == 0:
            state: DeviceState = "ok"
            h.last_success = result.ts
            h.consecutive_failures = 0
            h.reason = h.detail = None
        else:
            state = "failing" if result.failed_requests >= result.requests else "degraded"
            h.consecutive_failures = h.consecutive_failures + 1 if state == "failing" else 0
            if state == "degraded":
                h.last_success = result.ts
            h.reason = failures[0].reason if failures else "error"
            h.detail = failures[0].detail if failures else None
        changed = state != h.state
        if changed:
            h.state, h.since = state, result.ts
            log = logger.warning if state != "ok" else logger.info
            log("device %s: %s (%s)", self.config.id, state, h.detail or h.reason or "all channels read")
        return changed

    def to_publish(self, readings: dict[str, Reading]) -> dict[str, Reading]:
        """Report-on-change: drop channels that moved less than their deadband, unless a heartbeat is due."""
        policy: ReportOnChange | None = self.config.report_on_change
        if policy is None:
            return readings
        chosen = {}
        for name, reading in readings.items():
            band = policy.deadband.get(name)
            previous = self._last_sent.get(name)
            count = self._polls_since_sent.get(name, 0) + 1
            if (
                band is None
                or previous is None
                or _changed(previous, reading, band)
                or count >= policy.heartbeat
            ):
                chosen[name] = reading
                self._last_sent[name] = reading
                count = 0
            self._polls_since_sent[name] = count
        return chosen


def _changed(previous: Reading, current: Reading, band: float) -> bool:
    if previous.quality != current.quality or previous.value is None or current.value is None:
        return True
    return abs(current.value - previous.value) > band


#: Receives one poll cycle's messages (stores them in the outbox, wakes the publisher).
Sink = Callable[[list[Builder]], Awaitable[None]]


class BusPoller:
    """Polls the devices of one bus, one request at a time (the bus itself serialises and spaces them)."""

    def __init__(
        self,
        name: str,
        devices: list[ScheduledDevice],
        sink: Sink,
        *,
        site: str,
        gateway: str,
        topics: Topics,
        status_interval: timedelta = timedelta(seconds=60),
        clock: Clock = SYSTEM_CLOCK,
        clock_sanity: ClockSanity | None = None,
    ) -> None:
        self.name = name
        self.devices = [d for d in devices if d.config.enabled]
        self.disabled = [d for d in devices if not d.config.enabled]
        self.sink = sink
        self.site, self.gateway, self.topics = site, gateway, topics
        self.status_interval = status_interval.total_seconds()
        self.clock = clock
        self.clock_sanity = clock_sanity or ClockSanity(clock)
        self.polls_total = 0

    async def run(self) -> None:
        """Poll forever (until cancelled)."""
        now = self.clock.time()
        for device in self.devices:
            device.next_due = next_slot(now, device.interval)
            device.health.since = self.clock.now()
        await self.sink([self._status_builder(d, "disabled") for d in self.disabled])
        if not self.devices:
            return
        longest = max(d.interval for d in self.devices)
        previous = self.clock.time()
        while True:
            now = self.clock.time()
            if now < previous - 1.0:
                # The wall clock stepped back (NTP correcting a box that booted without an RTC): the grid
                # slots now lie far ahead, so re-grid rather than stall for as long as the step.
                logger.warning(
                    "bus %s: clock stepped back %.0f s; re-aligning the poll grid", self.name, previous - now
                )
                for device in self.devices:
                    device.next_due = next_slot(now, device.interval)
            previous = now
            due = min(d.next_due for d in self.devices)
            # Sleep at most one interval at a time, so a clock step is noticed within one interval.
            await self.clock.sleep(min(due - now, longest))
            if self.clock.time() >= min(d.next_due for d in self.devices):
                await self.cycle()

    async def cycle(self) -> None:
        """Poll every device that is due now; hand their messages over in one batch."""
        now = self.clock.time()
        batch: list[Builder] = []
        for device in sorted(self.devices, key=lambda d: d.next_due):
            if device.next_due > now:
                continue
            result = await self._poll(device)
            self.polls_total += 1
            changed = device.record(result)
            device.reschedule(self.clock.time())
            channels = device.to_publish(result.readings)
            if channels:
                # A reading stamped by a clock the gateway knows is wrong says so (gateway/clock_sanity.py).
                channels = self.clock_sanity.readings(channels, self.clock_sanity.check())
                batch.append(self._readings_builder(device, result, channels))
            if changed or now - device.health.reported_at >= self.status_interval:
                device.health.reported_at = now
                batch.append(self._status_builder(device, device.health.state))
        if batch:
            await self.sink(batch)

    async def _poll(self, device: ScheduledDevice) -> PollResult:
        # Supervisor boundary: a bug met by one device's data must not stop the bus, let alone the gateway.
        try:
            return await device.device.poll()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "device %s: poll failed unexpectedly; its channels are reported missing", device.config.id
            )
            ts = self.clock.now()
            missing = {
                spec.id: Reading.missing(
                    "internal_error", "the gateway failed to decode this poll; see its log"
                )
                for spec in device.device.profile.channels
                if not spec.internal
            }
            return PollResult(ts, missing, requests=1, failed_requests=1, duration_s=0.0)

    def _readings_builder(
        self, device: ScheduledDevice, result: PollResult, channels: dict[str, Reading]
    ) -> Builder:
        topic = self.topics.readings(self.site, device.config.id)

        def build(seq: int) -> tuple[str, bytes, bool]:
            # encode(Readings(...)) without validating the poll's readings again (contract/readings_payload)
            payload = readings_payload(
                site=self.site,
                device=device.config.id,
                gateway=self.gateway,
                seq=seq,
                ts=result.ts,
                channels=channels,
            )
            return topic, payload, False

        return build

    def _status_builder(self, device: ScheduledDevice, state: DeviceState) -> Builder:
        topic = self.topics.device_status(self.site, device.config.id)
        h = device.health
        ts = self.clock.now()

        def build(seq: int) -> tuple[str, bytes, bool]:
            message = DeviceStatus(
                site=self.site,
                device=device.config.id,
                gateway=self.gateway,
                seq=seq,
                ts=ts,
                state=state,
                since=dated(h.since) or ts,  # entered this state before the clock was set: say now
                last_success=dated(h.last_success),
                consecutive_failures=h.consecutive_failures,
                reason=h.reason,
                detail=h.detail,
                requests_total=h.requests_total,
                errors_total=h.errors_total,
                discarded_replies_total=h.discarded_replies_total,
                latency_ms=h.latency_ms,
            )
            return topic, encode(message), True

        return build
