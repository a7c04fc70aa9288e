"""Gateway metrics for Prometheus, refreshed from the live objects at scrape time.

Collected, not incremented in hot paths: the scheduler, bus and publisher already count what they do, and a
custom collector reads those counters when Prometheus asks. One registry per gateway, so tests can run
several.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from drivers.serial_records.stream import RecordStream
from gateway.outbox import Outbox
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


@dataclass(eq=False)  # registries keep collectors in a set: identity, not value, matters
class GatewayCollector(Collector):
    outbox: Outbox
    publisher: Publisher
    pollers: list[BusPoller]
    #: (stream, device id) of every record-stream bus.
    streams: list[tuple[RecordStream, str]]
    clock: Clock = SYSTEM_CLOCK

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        state = self.outbox.state()
        yield GaugeMetricFamily("pantau_outbox_depth", "Messages waiting in the outbox", value=state.depth)
        yield GaugeMetricFamily("pantau_outbox_bytes", "Bytes held by the outbox", value=state.bytes)
        age = self.clock.time() - state.oldest_created if state.oldest_created is not None else 0.0
        yield GaugeMetricFamily(
            "pantau_outbox_oldest_age_seconds", "Age of the oldest queued message", value=age
        )
        yield CounterMetricFamily(
            "pantau_outbox_dropped",
            "Messages dropped by quota or age, dead letters dropped by hand, or not stored (disk full)",
            value=state.dropped_total,
        )
        yield CounterMetricFamily(
            "pantau_outbox_unstored",
            "Messages the outbox could not store (disk full), also counted in pantau_outbox_dropped",
            value=state.unstored_total,
        )
        yield GaugeMetricFamily(
            "pantau_outbox_dead_letters",
            "Messages the broker refused too often, held apart (pantau gateway dead-letters)",
            value=state.dead_letters,
        )
        yield CounterMetricFamily(
            "pantau_outbox_dead_lettered",
            "Messages moved to the dead letters",
            value=state.dead_lettered_total,
        )
        yield GaugeMetricFamily(
            "pantau_outbox_awaiting_receipt",
            "Messages the broker acknowledged, kept until the backend's receipt says they are stored",
            value=state.awaiting_receipt,
        )
        yield CounterMetricFamily(
            "pantau_outbox_unreceipted",
            "Messages let go without the backend's receipt (receipt window, quota, or resent too often)",
            value=state.unreceipted_total,
        )
        stats = self.publisher.stats
        yield CounterMetricFamily(
            "pantau_mqtt_resent",
            "Messages sent again because a later receipt showed they never reached the backend",
            value=stats.resent_total,
        )
        yield GaugeMetricFamily(
            "pantau_mqtt_connected", "1 when connected to the broker", value=int(stats.connected)
        )
        yield CounterMetricFamily(
            "pantau_mqtt_published", "Messages acknowledged by the broker", value=stats.published_total
        )
        yield CounterMetricFamily(
            "pantau_mqtt_connect_failures", "Failed broker connections", value=stats.connect_failures_total
        )
        yield CounterMetricFamily(
            "pantau_mqtt_refused",
            "PUBACKs refusing a message (MQTT v5 reason code >= 0x80)",
            value=stats.refused_total,
        )
        polls = CounterMetricFamily(
            "pantau_device_requests", "Modbus requests per device", labels=["bus", "device"]
        )
        errors = CounterMetricFamily(
            "pantau_device_request_errors", "Failed requests per device", labels=["bus", "device", "reason"]
        )
        discarded = CounterMetricFamily(
            "pantau_device_discarded_replies",
            "RTU replies that came when no request of the device was waiting (too late), thrown away",
            labels=["bus", "device"],
        )
        latency = GaugeMetricFamily(
            "pantau_device_latency_ms", "Mean request latency of the last poll", labels=["bus", "device"]
        )
        up = GaugeMetricFamily("pantau_device_up", "1 ok, 0.5 degraded, 0 failing", labels=["bus", "device"])
        for poller in self.pollers:
            for device in poller.devices:
                h, labels = device.health, [poller.name, device.config.id]
                polls.add_metric(labels, h.requests_total)
                errors.add_metric([*labels, h.reason or "none"], h.errors_total)
                discarded.add_metric(labels, h.discarded_replies_total)
                if h.latency_ms is not None:
                    latency.add_metric(labels, h.latency_ms)
                up.add_metric(labels, {"ok": 1.0, "degraded": 0.5}.get(h.state, 0.0))
        yield from (polls, errors, discarded, latency, up)
        yield from self._streams()
        yield from self._clock()

    def _clock(self) -> Iterator[GaugeMetricFamily]:
        # The last verdict, not a new look: a scrape runs on the metrics server's thread.
        verdict = self.publisher.clock_sanity.last
        if verdict is None:
            return  # nothing stamped yet
        plausible = GaugeMetricFamily(
            "pantau_clock_plausible",
            "1 while the wall clock is plausible; 0 with the reason while data is marked clock_skew",
            labels=["reason"],
        )
        plausible.add_metric([verdict.reason or ""], 1 if verdict.plausible else 0)
        yield plausible
        if verdict.step_s is not None:
            yield GaugeMetricFamily(
                "pantau_clock_last_step_seconds",
                "The last step of wall time against monotonic time beyond the bound (+ forward)",
                value=verdict.step_s,
            )

    def _streams(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        labels = ["stream", "device"]
        connected = GaugeMetricFamily("pantau_stream_connected", "1 while the link is up", labels=labels)
        age = GaugeMetricFamily(
            "pantau_stream_last_record_age_seconds", "Seconds since the last vehicle record", labels=labels
        )
        counters = {
            attribute: CounterMetricFamily(name, text, labels=labels)
            for attribute, name, text in _STREAM_COUNTERS
        }
        now = self.clock.time()
        for stream, device in self.streams:
            c, values = stream.counters, [stream.name, device]
            connected.add_metric(values, int(c.connected))
            if c.last_record_at is not None:
                age.add_metric(values, max(0.0, now - c.last_record_at.timestamp()))
            for attribute, family in counters.items():
                family.add_metric(values, getattr(c, attribute))
        yield connected
        yield age
        yield from counters.values()


def registry_for(
    outbox: Outbox,
    publisher: Publisher,
    pollers: list[BusPoller],
    streams: list[tuple[RecordStream, str]] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(outbox, publisher, pollers, streams or [], clock))
    return registry
