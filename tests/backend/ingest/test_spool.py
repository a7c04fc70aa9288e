"""The spool: batches in, batches out in order, released once stored; dead letters bounded."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from backend.ingest.spool import DeadLetter, LateHour, Spool, SpoolBatch
from backend.storage.model import Point
from pantau.resilience import VirtualClock


def point(i: int) -> Point:
    return Point(
        "reading", {"site": "s", "device": "d", "channel": "level"}, {"value": float(i), "seq": i}, i
    )


def test_batches_come_out_whole_and_in_order_until_released(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.accept([point(0), point(1)])
    spool.accept([point(2)])
    spool.accept([point(3), point(4), point(5)])
    first = spool.take(max_points=3)
    assert first is not None
    assert [p.time_ns for p in first.points] == [0, 1, 2]  # whole rows only: the third would overflow
    assert spool.take(max_points=3) == first  # nothing is gone until released
    spool.release(first.through_id)
    rest = spool.take(max_points=1)  # at least one row, even over the limit
    assert rest is not None
    assert [p.time_ns for p in rest.points] == [3, 4, 5]
    assert rest.points[0] == point(3)  # tags, fields and their types survive the round trip
    assert spool.state().points == 3


def test_what_was_accepted_survives_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.accept([point(1)], [DeadLetter("t", "bad_json", "why", b"{", 1, 5.0)])
    spool.close()
    reopened = Spool(tmp_path / "spool.db")
    batch = reopened.take(10)
    assert batch is not None
    assert batch.points == [point(1)]
    assert reopened.deadletter_counts() == {"bad_json": 1}


def test_dead_letters_are_bounded_newest_kept_and_payloads_truncated(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_deadletters=100, max_payload_bytes=256)
    for i in range(130):
        spool.accept([], [DeadLetter(f"topic/{i}", "invalid", "why", b"x" * 1000, 1000, float(i))])
    entries = spool.deadletters(limit=1000)
    assert [e.topic for e in entries][:2] == ["topic/129", "topic/128"]
    assert len(entries) == 100
    assert entries[0].size == 1000
    assert len(entries[0].payload) == 256
    older = spool.deadletters(limit=5, before_id=entries[-1].id)
    assert older == []
    assert spool.deadletters(limit=5, reason="bad_json") == []


def test_points_read_back_from_disk_equal_those_handed_over_in_memory(tmp_path: Path) -> None:
    """Recent rows come from the in-memory cache, older ones (past its size) and a restarted spool's from
    the file: the writer sees the same points either way, odd values included."""
    odd = [
        Point("m", {"t": "x"}, {"nan": math.nan, "inf": -math.inf}, 1),  # JSON fallback (orjson: null)
        Point("m", {}, {"big": 2**70, "s": 'null "quoted" \\ é'}, 2),  # beyond orjson's 64 bits
        Point("m", {}, {"b": True, "i": -(2**63), "f": 1e-300}, -3),
    ]
    batches = [[point(0), point(1)], odd, [point(2)]]
    spool = Spool(tmp_path / "spool.db", cached_points=3)  # room for the first two rows only
    for batch in batches:
        spool.accept(batch)
    in_memory = spool.take(max_points=100)
    spool.close()
    from_disk = Spool(tmp_path / "spool.db").take(max_points=100)
    assert in_memory is not None
    assert from_disk is not None
    assert in_memory.through_id == from_disk.through_id
    assert len(in_memory.points) == len(from_disk.points) == 6
    for left, right in zip(in_memory.points, from_disk.points, strict=True):
        assert _comparable(left) == _comparable(right)


def test_released_rows_leave_the_cache_and_new_ones_use_the_room(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", cached_points=2)
    spool.accept([point(0), point(1)])
    first = spool.take(max_points=10)
    assert first is not None
    spool.release(first.through_id)
    spool.accept([point(2), point(3)])
    assert spool.take(max_points=10) == SpoolBatch(first.through_id + 1, [point(2), point(3)])
    assert spool.state().points == 2


def _comparable(p: Point) -> tuple[object, ...]:
    """NaN != NaN, so compare floats by their text."""
    fields = {k: repr(v) if isinstance(v, float) else v for k, v in p.fields.items()}
    return (p.measurement, dict(p.tags), fields, p.time_ns)


def test_a_point_s_line_survives_the_round_trip_through_disk(tmp_path: Path) -> None:
    """Ingest's line protocol rides in the spool row, so a point read back from disk (behind a backlog
    larger than the cache, or after a restart) is not encoded again; a point without one reads back
    without one, and rows written before lines were kept still read."""
    lined = Point("reading", {"site": "s"}, {"value": 1.5}, 7, "reading,site=s value=1.5 7")
    spool = Spool(tmp_path / "spool.db", cached_points=0)  # nothing cached: every take reads the disk
    spool.accept([lined, point(8)])
    batch = spool.take(10)
    assert batch is not None
    assert [p.line for p in batch.points] == ["reading,site=s value=1.5 7", None]
    assert batch.points == [lined, point(8)]
    spool.close()
    old = sqlite3.connect(tmp_path / "spool.db")
    with old:
        old.execute(
            "INSERT INTO spool (created, count, points) VALUES (0, 1, ?)",
            ('[["reading",{"site":"s"},{"value":2.5},9]]',),
        )
    old.close()
    reopened = Spool(tmp_path / "spool.db", cached_points=0)
    batch = reopened.take(10)
    assert batch is not None
    assert [(p.time_ns, p.line) for p in batch.points][-1] == (9, None)


def test_late_hours_are_marked_with_the_release_and_survive_reopening(tmp_path: Path) -> None:
    clock = VirtualClock(datetime(2026, 12, 4, tzinfo=UTC))
    spool = Spool(tmp_path / "spool.db", clock=clock)
    spool.accept([point(1)])
    batch = spool.take(10)
    assert batch is not None
    spool.release(batch.through_id, {7200, 3600})
    spool.close()
    reopened = Spool(tmp_path / "spool.db", clock=clock)
    assert reopened.take(10) is None
    now = clock.time()
    assert reopened.late_hours(10, marked_before=now) == []  # not settled: marked at `now`
    assert reopened.late_hours(10, marked_before=now + 1) == [LateHour(3600, 0), LateHour(7200, 0)]
    assert reopened.late_hours(1, marked_before=now + 1) == [LateHour(3600, 0)]  # oldest first


def test_a_late_hour_marked_again_while_it_is_recomputed_stays_marked(tmp_path: Path) -> None:
    # The rollup read the mark, recomputed the hour; meanwhile the writer stored more of that hour.
    clock = VirtualClock(datetime(2026, 12, 4, tzinfo=UTC))
    spool = Spool(tmp_path / "spool.db", clock=clock)
    spool.mark_late_hours([3600, 7200])
    read = spool.late_hours(10, marked_before=clock.time() + 1)
    spool.mark_late_hours([3600])  # during the recompute
    spool.forget_late_hours(read)
    assert spool.late_hours(10, marked_before=clock.time() + 1) == [LateHour(3600, 1)]
