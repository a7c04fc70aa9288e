"""Reject sampling and a record stream's device status, on the kit's virtual clock (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from drivers.serial_records import Reject, StreamCounters
from gateway.stream_reports import MAX_KINDS, RejectReports, RejectSampler, StreamHealth
from pantau.contract import DeviceStatus, RecordReject, Topics, decode
from pantau.resilience import VirtualClock

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
INTERVAL = 600.0


def reject(field: str | None = "gvw", reason: str = "bad_field") -> Reject:
    return Reject(T0, reason, field, f"{field}: 'x' is not a number", b"412,x\x00", 6)  # type: ignore[arg-type]


async def test_the_first_of_each_kind_goes_then_one_per_interval_with_the_count_not_sent() -> None:
    clock = VirtualClock(T0)
    sampler = RejectSampler(INTERVAL, clock)
    first = sampler.offer(reject())
    assert first is not None and first.unsampled == 0
    # A babbling line: a thousand more of the same kind within the interval send nothing...
    assert all(sampler.offer(reject()) is None for _ in range(1000))
    # ...but another kind is news, and goes at once.
    other = sampler.offer(reject("axle_weight[2]"))
    assert other is not None
    assert sampler.offer(reject("axle_weight[5]")) is None  # the same problem on another axle
    await clock.sleep(INTERVAL)
    later = sampler.offer(reject())
    assert later is not None and later.unsampled == 1000
    assert sampler.offer(reject()) is None


async def test_the_sampler_tracks_a_bounded_number_of_kinds() -> None:
    sampler = RejectSampler(INTERVAL, VirtualClock(T0))
    sent = [sampler.offer(reject(f"_f{n}")) for n in range(MAX_KINDS * 3)]
    # Past the bound, new fields of one reason share a kind: one more sample, then silence.
    assert sum(s is not None for s in sent) == MAX_KINDS + 1
    assert len(sampler._kinds) == MAX_KINDS + 1


async def test_samples_become_record_reject_messages_on_the_devices_topic() -> None:
    topics = Topics()
    reports = RejectReports(
        RejectSampler(INTERVAL, VirtualClock(T0)),
        site="km13",
        device="wim-1",
        gateway="gw-km13",
        topics=topics,
    )
    for _ in range(3):
        reports.offer(reject())
    reports.offer(Reject(T0, "framing", None, "", b"9" * 200, 200))
    builders = await reports.take()
    assert len(builders) == 2
    messages = [decode(payload, topic=topic) for topic, payload, _retain in (b(7) for b in builders)]
    assert all(isinstance(m, RecordReject) for m in messages)
    first, framing = messages
    assert isinstance(first, RecordReject) and isinstance(framing, RecordReject)
    assert (first.reason, first.field, first.excerpt, first.frame_bytes) == (
        "bad_field",
        "gvw",
        "412,x\\x00",
        6,
    )
    assert framing.problem == "framing"  # an empty problem text still says something
    assert builders[0](7)[0] == "pantau/v1/km13/wim-1/rejects"


async def test_a_stream_status_carries_its_reject_count_and_since_when_the_link_is_up() -> None:
    clock = VirtualClock(T0)
    counters = StreamCounters()
    health = StreamHealth(
        counters, site="km13", device="wim-1", gateway="gw-km13", topics=Topics(), clock=clock
    )
    assert not health.known and not health.changed()
    await clock.sleep(5)
    counters.connects, counters.connected = 1, True
    assert health.changed()
    counters.frames, counters.malformed = 40, 12
    await clock.sleep(60)
    assert not health.changed()  # periodic: nothing moved, the status still goes out with the counts
    topic, payload, retain = health.builder()(9)
    status = decode(payload, topic=topic)
    assert isinstance(status, DeviceStatus) and retain
    assert (status.state, status.requests_total, status.errors_total, status.rejected_total) == (
        "ok",
        40,
        12,
        12,
    )
    assert status.since == T0.replace(second=5)
    assert status.ts == T0.replace(minute=1, second=5)
