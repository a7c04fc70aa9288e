"""The outbox keeps every message through crashes, numbers them without gaps, and drops only visibly."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.outbox import Outbox, OutboxError
from tests.harness.process import wait_until


def builders(count: int, size: int = 10) -> list:  # type: ignore[type-arg]
    return [lambda seq: (f"t/{seq}", b"x" * size, False) for _ in range(count)]


def test_messages_get_consecutive_sequence_numbers_and_leave_only_when_acked(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    first = outbox.append(builders(3))
    second = outbox.append(builders(2))
    assert [m.seq for m in first + second] == [0, 1, 2, 3, 4]
    assert [m.topic for m in outbox.pending()] == ["t/0", "t/1", "t/2", "t/3", "t/4"]
    outbox.ack([0, 1, 3])
    assert [m.seq for m in outbox.pending()] == [2, 4]
    assert [m.seq for m in outbox.pending(after_seq=2)] == [4]
    assert outbox.state().depth == 2


def test_sequence_numbers_survive_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append(builders(5))
    outbox.ack(range(5))
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.db")
    assert [m.seq for m in reopened.append(builders(1))] == [5]


def test_the_seq_is_inside_the_payload_it_numbers(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append([lambda seq: ("t", f'{{"seq": {seq}}}'.encode(), True)] * 2)
    assert [m.payload for m in outbox.pending()] == [b'{"seq": 0}', b'{"seq": 1}']
    assert all(m.retain for m in outbox.pending())


def test_quota_drops_the_oldest_and_counts_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=1000)
    for _ in range(30):
        outbox.append(builders(1, size=95))  # 95 + len("t/NN") ≈ 99 bytes each
    state = outbox.state()
    assert state.bytes <= 1000
    kept = [m.seq for m in outbox.pending()]
    assert kept == list(range(30 - len(kept), 30))  # the newest survive, contiguous
    assert state.dropped_total == 30 - len(kept) > 0


def test_age_limit_drops_old_messages(tmp_path: Path) -> None:
    now = [1000.0]
    outbox = Outbox(tmp_path / "outbox.db", max_age=timedelta(hours=1), clock=lambda: now[0])
    outbox.append(builders(2))
    now[0] += 3601
    outbox.append(builders(1))
    assert [m.seq for m in outbox.pending()] == [2]
    assert outbox.state().dropped_total == 2


def test_wills_are_kept_apart_from_the_queue(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append(builders(1))
    will = outbox.append(builders(1), will=True)
    outbox.append(builders(1))
    assert [m.seq for m in outbox.pending()] == [0, 2]
    assert [m.seq for m in outbox.wills(armed=False)] == [will[0].seq] == [1]
    assert outbox.wills(armed=True) == []
    outbox.arm(1)
    assert [m.seq for m in outbox.wills(armed=True)] == [1]
    outbox.ack([1])
    assert outbox.wills(armed=True) == outbox.wills(armed=False) == []


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gateway.outbox import Outbox
    outbox = Outbox(Path(sys.argv[1]))
    print("ready", flush=True)
    while True:
        outbox.append([lambda seq: ("t", str(seq).encode(), False)] * 7)
    """
)


def stored(db: Path) -> int:
    """Messages committed so far, read without disturbing the writer (the gateway owns the outbox)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as reader:
        return int(reader.execute("SELECT count(*) FROM messages").fetchone()[0])


@pytest.mark.services  # a writer in a child process
def test_sigkill_mid_write_loses_nothing_committed_and_leaves_no_gap(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    for _round in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).parents[2],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
        assert writer.stdout is not None
        assert writer.stdout.readline() == b"ready\n"
        start = stored(db)
        assert wait_until(lambda: stored(db) > start + 50, 20)  # noqa: B023
        time.sleep(0.05)  # let it be mid-transaction, somewhere
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        writer.stdout.close()
    outbox = Outbox(db)
    messages = outbox.pending(limit=10**9)
    assert [m.seq for m in messages] == list(range(len(messages)))  # every committed message, no gap
    assert [int(m.payload) for m in messages] == [m.seq for m in messages]
    assert outbox.append(builders(1))[0].seq == len(messages)  # numbering resumes after the last commit


def test_age_expiry_frees_room_before_the_quota_is_checked(tmp_path: Path) -> None:
    now = [1000.0]
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=1000, max_age=timedelta(hours=1), clock=lambda: now[0])
    for _ in range(9):
        outbox.append(builders(1, size=95))
    now[0] += 3601  # all nine expire
    for _ in range(9):
        outbox.append(builders(1, size=95))
    state = outbox.state()
    assert state.depth == 9  # the new nine fit once the old are gone: none of them dropped
    assert state.dropped_total == 9


def fill_up(outbox: Outbox) -> None:
    """A real SQLITE_FULL without mounting a small disk: the file may not grow past the pages it has."""
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count = {pages}")


def make_room(outbox: Outbox) -> None:
    outbox._db.execute("PRAGMA max_page_count = 1073741823")


def test_a_full_disk_is_an_outbox_error_and_keeps_what_was_stored(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append(builders(2))
    fill_up(outbox)
    # Before the fix the ROLLBACK after SQLite's own rollback raised "cannot rollback - no transaction is
    # active", a bare sqlite3.OperationalError that hid the full disk.
    with pytest.raises(OutboxError, match="full"):
        outbox.append(builders(40, size=4096))
    assert not outbox._db.in_transaction
    assert [m.seq for m in outbox.pending()] == [0, 1]
    make_room(outbox)
    assert [m.seq for m in outbox.append(builders(1))] == [2]  # the refused batch burnt no numbers


def test_messages_not_stored_are_counted_and_persisted_once_room_returns(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    fill_up(outbox)
    with pytest.raises(OutboxError):
        outbox.append(builders(40, size=4096))
    outbox.count_unstored(40)
    assert (outbox.state().dropped_total, outbox.state().unstored_total) == (40, 40)  # seen at once
    with pytest.raises(OutboxError):
        outbox.append(builders(40, size=4096))
    outbox.count_unstored(40)
    make_room(outbox)
    outbox.append(builders(1))
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.db")
    state = reopened.state()
    assert (state.dropped_total, state.unstored_total, state.depth) == (80, 80, 1)


def test_a_queued_acknowledgement_is_seen_at_once_and_written_with_the_next_append(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append(builders(4))
    outbox.ack_later([0, 1], [("t/1", 1)])
    # Another connection (another process: `pantau gateway dead-letters`) sees the file as it is.
    other = sqlite3.connect(tmp_path / "outbox.db")
    assert other.execute("SELECT count(*) FROM messages").fetchone()[0] == 4
    outbox.append(builders(1))  # written in the same transaction as the cycle it comes with
    assert other.execute("SELECT seq FROM messages ORDER BY seq").fetchall() == [(2,), (3,), (4,)]
    outbox.ack_later([2])
    assert [m.seq for m in outbox.pending()] == [3, 4]  # every method reads the queued ones as written
    assert outbox.retained_seqs() == {"t/1": 1}
    outbox.ack_later([3])
    outbox.close()  # closing writes what is queued
    assert [m.seq for m in Outbox(tmp_path / "outbox.db").pending()] == [4]


def test_acknowledgements_the_database_refuses_stay_queued_until_it_takes_them(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append(builders(3))
    outbox._db.execute("PRAGMA query_only = 1")  # every write refused, as by a failing card
    outbox.ack_later([0, 1])
    with pytest.raises(OutboxError, match="readonly"):
        outbox.flush_acks()
    assert [m.seq for m in outbox.pending()] == [0, 1, 2]  # a read goes on, with what is written
    outbox._db.execute("PRAGMA query_only = 0")
    outbox.flush_acks()
    assert [m.seq for m in outbox.pending()] == [2]
