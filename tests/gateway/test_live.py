"""The live stream's in-memory hand-off (gateway/live.py): it hands out a message only when it provably
continues the stream, and otherwise sends the publisher to the outbox."""

from __future__ import annotations

from gateway.live import LiveQueue
from gateway.outbox import OutboxMessage


def stored(*seqs: int) -> list[OutboxMessage]:
    return [OutboxMessage(seq, f"t/{seq}", b"{}", False, 0.0) for seq in seqs]


def seqs(batch: list[OutboxMessage] | None) -> list[int] | None:
    return None if batch is None else [m.seq for m in batch]


def test_until_the_outbox_said_it_is_caught_up_nothing_new_is_not_believed() -> None:
    live = LiveQueue()
    assert live.take(cursor=9, limit=100) is None  # ask the outbox
    live.caught_up()
    assert live.take(cursor=9, limit=100) == []


def test_a_run_that_continues_the_cursor_is_handed_out_in_order() -> None:
    live = LiveQueue()
    live.caught_up()
    live.offer(stored(10, 11))
    live.offer(stored(12))
    assert seqs(live.take(cursor=9, limit=2)) == [10, 11]
    assert seqs(live.take(cursor=11, limit=100)) == [12]
    assert live.take(cursor=12, limit=100) == []


def test_a_gap_sends_the_publisher_to_the_outbox_until_it_is_caught_up_again() -> None:
    live = LiveQueue()
    live.caught_up()
    live.offer(stored(12, 13))  # 10 and 11 were stored by a path that did not offer them
    assert live.take(cursor=9, limit=100) is None
    assert live.take(cursor=13, limit=100) is None  # not believed empty either, until the outbox says so
    live.caught_up()
    assert live.take(cursor=13, limit=100) == []


def test_messages_the_cursor_passed_are_dropped_and_crossed_commits_are_put_in_order() -> None:
    live = LiveQueue()
    live.caught_up()
    live.offer(stored(12, 13))
    live.offer(stored(10, 11))  # another poller's commit, handed over after the later one
    assert seqs(live.take(cursor=9, limit=100)) == [10, 11, 12, 13]
    live.offer(stored(5, 6))  # older than the cursor: already published from the outbox
    assert live.take(cursor=13, limit=100) == []


def test_an_overflow_forgets_everything_and_a_doubt_asks_the_outbox() -> None:
    live = LiveQueue(limit=3)
    live.caught_up()
    live.offer(stored(1, 2))
    live.offer(stored(3, 4))  # over the limit: the broker is away, the outbox holds them
    assert live.take(cursor=0, limit=100) is None
    live.caught_up()
    live.doubt()
    assert live.take(cursor=0, limit=100) is None
