"""Backend metrics for Prometheus, read from the live objects at scrape time (nothing counted twice)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from backend.ingest.pipeline import IngestStats
from backend.ingest.spool import Spool
from backend.ingest.subscriber import Subscriber
from backend.ingest.writer import SpoolWriter
from pantau.resilience import SYSTEM_CLOCK, Clock


@dataclass(eq=False)  # registries keep collectors in a set: identity, not value, matters
class BackendCollector(Collector):
    subscriber: Subscriber
    ingest: IngestStats
    writer: SpoolWriter
    spool: Spool
    clock: Clock = SYSTEM_CLOCK

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        sub = self.subscriber.stats
        yield GaugeMetricFamily(
            "pantau_backend_mqtt_connected", "1 when subscribed", value=int(sub.connected)
        )
        yield CounterMetricFamily(
            "pantau_backend_messages_received", "MQTT messages received", value=sub.received_total
        )
        yield CounterMetricFamily(
            "pantau_backend_messages_acked", "Messages acknowledged after spooling", value=sub.acked_total
        )
        accepted = CounterMetricFamily(
            "pantau_backend_messages_accepted", "Valid messages by kind", labels=["kind"]
        )
        for kind, count in sorted(self.ingest.accepted.items()):
            accepted.add_metric([kind], count)
        yield accepted
        dead = CounterMetricFamily(
            "pantau_backend_deadletters", "Messages dead-lettered by reason", labels=["reason"]
        )
        for reason, count in sorted(self.ingest.dead.items()):
            dead.add_metric([reason], count)
        yield dead
        w = self.writer.stats
        yield CounterMetricFamily(
            "pantau_backend_points_written", "Points stored", value=w.points_written_total
        )
        yield CounterMetricFamily(
            "pantau_backend_storage_write_failures",
            "Failed storage writes (retried)",
            value=w.write_failures_total,
        )
        yield GaugeMetricFamily(
            "pantau_backend_storage_up", "1 when storage accepts writes", value=int(w.storage_up)
        )
        yield GaugeMetricFamily(
            "pantau_backend_storage_write_seconds",
            "Duration of the last storage write",
            value=w.last_write_seconds,
        )
        state = self.spool.state()
        yield GaugeMetricFamily(
            "pantau_backend_spool_points", "Points waiting for storage", value=state.points
        )
        age = self.clock.time() - state.oldest_created if state.oldest_created is not None else 0.0
        yield GaugeMetricFamily(
            "pantau_backend_spool_oldest_age_seconds", "Age of the oldest spooled batch", value=age
        )


def registry_for(collector: BackendCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
