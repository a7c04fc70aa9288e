"""The spool: batches in, batches out in order, released once stored; dead letters bounded."""

from __future__ import annotations

from pathlib import Path

from backend.ingest.spool import DeadLetter, Spool
from backend.storage.model import Point


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
