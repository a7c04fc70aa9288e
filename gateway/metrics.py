"""Gateway metrics for Prometheus, refreshed from the live objects at scrape time.

Collected, not incremented in hot paths: the scheduler, bus and publisher already count what they do, and
the collector reads those counters when Prometheus asks. Written in the text format by gateway.prometheus
(no prometheus_client on a field box: see there why).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from drivers.serial_records.stream import RecordStream
from gateway.outbox import Outbox, OutboxState
from gateway.prometheus import Family, counter, gauge, render
from gateway.publisher import Publisher
from gateway.scheduler import BusPoller
from pantau.resilience import SYSTEM_CLOCK, Clock

#: Record-stream totals exported as counters: (StreamCounters attribute, metric name, help).
_STREAM_COUNTERS = (
    ("frames", "pantau_stream_frames", "Frames received on a record stream"),
    ("records", "pantau_stream_records", "Vehicle records decoded"),
    ("malformed", "pantau_stream_malformed", "Frames rejected (checksum, framing, parse)"),
    ("checksum_failures", "pantau_stream_checksum_failures", "Frames whose checksum did not match"),
    ("skipped_bytes", "pantau_stream_skipped_bytes", "Bytes skipped between frames (noise, resync)"),
    ("aborted_weighings", "pantau_stream_aborted_weighings", "Weighings that ended without a record"),
    ("link_failures", "pantau_stream_link_failures", "Times the serial link or device server was lost"),
)


@dataclass(eq=False)
class GatewayCollector:
    outbox: Outbox
    publisher: Publisher
    pollers: list[BusPoller]
    #: (stream, device id) of every record-stream bus.
    streams: list[tuple[RecordStream, str]] = field(default_factory=list)
    clock: Clock = SYSTEM_CLOCK

    async def page(self) -> bytes:
        """The metrics page (the outbox is read on its own thread: a scrape never waits on an fsync in
        the event loop)."""
        return render(self.collect(await self.outbox.in_thread(self.outbox.state)))

    def collect(self, state: OutboxState) -> Iterator[Family]:
        yield gauge("pantau_outbox_depth", "Messages waiting in the outbox", value=state.depth)
        yield gauge("pantau_outbox_bytes", "Bytes held by the outbox", value=state.bytes)
        age = self.clock.time() - state.oldest_created if state.oldest_created is not None else 0.0
        yield gauge("pantau_outbox_oldest_age_seconds", "Age of the oldest queued message", value=age)
        yield counter(
            "pantau_outbox_dropped",
            "Messages dropped by quota or age, dead letters dropped by hand, or not stored (disk full)",
            value=state.dropped_total,
        )
        yield counter(
            "pantau_outbox_unstored",
            "Messages the outbox could not store (disk full), also counted in pantau_outbox_dropped",
            value=state.unstored_total,
        )
        yield gauge(
            "pantau_outbox_dead_letters",
            "Messages the broker refused too often, held apart (pantau gateway dead-letters)",
            value=state.dead_letters,
        )
        yield counter(
            "pantau_outbox_dead_lettered",
            "Messages moved to the dead letters",
            value=state.dead_lettered_total,
        )
        yield gauge(
            "pantau_outbox_awaiting_receipt",
            "Messages the broker acknowledged, kept until the backend's receipt says they are stored",
            value=state.awaiting_receipt,
        )
        yield counter(
            "pantau_outbox_unreceipted",
            "Messages let go without the backend's receipt (receipt window, quota, or resent too often)",
            value=state.unreceipted_total,
        )
        stats = self.publisher.stats
        yield counter(
            "pantau_mqtt_resent",
            "Messages sent again because a later receipt showed they never reached the backend",
            value=stats.resent_total,
        )
        yield gauge("pantau_mqtt_connected", "1 when connected to the broker", value=int(stats.connected))
        yield counter(
            "pantau_mqtt_published", "Messages acknowledged by the broker", value=stats.published_total
        )
        yield counter(
            "pantau_mqtt_connect_failures", "Failed broker connections", value=stats.connect_failures_total
        )
        yield counter(
            "pantau_mqtt_refused",
            "PUBACKs refusing a message (MQTT v5 reason code >= 0x80)",
            value=stats.refused_total,
        )
        polls = counter("pantau_device_requests", "Modbus requests per device", labels=("bus", "device"))
        errors = counter(
            "pantau_device_request_errors", "Failed requests per device", labels=("bus", "device", "reason")
        )
        discarded = counter(
            "pantau_device_discarded_replies",
            "RTU replies that came when no request of the device was waiting (too late), thrown away",
            labels=("bus", "device"),
        )
        latency = gauge(
            "pantau_device_latency_ms", "Mean request latency of the last poll", labels=("bus", "device")
        )
        up = gauge("pantau_device_up", "1 ok, 0.5 degraded, 0 failing", labels=("bus", "device"))
        for poller in self.pollers:
            for device in poller.devices:
                h, labels = device.health, [poller.name, device.config.id]
                polls.add(labels, h.requests_total)
                errors.add([*labels, h.reason or "none"], h.errors_total)
                discarded.add(labels, h.discarded_replies_total)
                if h.latency_ms is not None:
                    latency.add(labels, h.latency_ms)
                up.add(labels, {"ok": 1.0, "degraded": 0.5}.get(h.state, 0.0))
        yield from (polls, errors, discarded, latency, up)
        yield from self._streams()
        yield from self._clock()

    def _clock(self) -> Iterator[Family]:
        # The last verdict, not a new look: a scrape is no moment to judge the clock.
        verdict = self.publisher.clock_sanity.last
        if verdict is None:
            return  # nothing stamped yet
        plausible = gauge(
            "pantau_clock_plausible",
            "1 while the wall clock is plausible; 0 with the reason while data is marked clock_skew",
            labels=("reason",),
        )
        plausible.add([verdict.reason or ""], 1 if verdict.plausible else 0)
        yield plausible
        if verdict.step_s is not None:
            yield gauge(
                "pantau_clock_last_step_seconds",
                "The last step of wall time against monotonic time beyond the bound (+ forward)",
                value=verdict.step_s,
            )

    def _streams(self) -> Iterator[Family]:
        labels = ("stream", "device")
        connected = gauge("pantau_stream_connected", "1 while the link is up", labels=labels)
        age = gauge(
            "pantau_stream_last_record_age_seconds", "Seconds since the last vehicle record", labels=labels
        )
        counters = {
            attribute: counter(name, text, labels=labels) for attribute, name, text in _STREAM_COUNTERS
        }
        now = self.clock.time()
        for stream, device in self.streams:
            c, values = stream.counters, [stream.name, device]
            connected.add(values, int(c.connected))
            if c.last_record_at is not None:
                age.add(values, max(0.0, now - c.last_record_at.timestamp()))
            for attribute, family in counters.items():
                family.add(values, getattr(c, attribute))
        yield connected
        yield age
        yield from counters.values()
