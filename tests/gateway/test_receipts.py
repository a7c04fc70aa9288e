"""The outbox's side of the end-to-end acknowledgement (gateway/receipts.py): a PUBACK keeps a message until
the backend's receipt; a later receipt sends again what was skipped; waiting is bounded by the receipt
window, the quota and the resend limit, each counted apart from drops. The whole path against a real
broker and backend is tests/faults (mosquitto SIGKILLed while the backend is away, restarted without
persistence) and tests/backend/ingest/test_receipts.py."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.outbox import Builder, Outbox
from gateway.publisher import Identity, Publisher
from pantau.site.config import MqttConfig

WEEK = timedelta(days=7)


class Clock:
    """The outbox's wall clock, set by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def message(n: int, size: int = 100) -> Builder:
    return lambda _seq: (f"pantau/v1/s/d/readings#{n}", b"x" * size, False)


def holding(tmp_path: Path, clock: Clock, **settings: object) -> Outbox:
    return Outbox(tmp_path / "outbox.db", receipt_window=WEEK, clock=clock, **settings)  # type: ignore[arg-type]


def test_a_puback_keeps_the_message_until_its_receipt(tmp_path: Path) -> None:
    clock = Clock()
    outbox = holding(tmp_path, clock)
    seqs = [m.seq for m in outbox.append([message(n) for n in range(5)])]
    outbox.ack(seqs)
    state = outbox.state()
    assert (state.depth, state.awaiting_receipt) == (0, 5)  # nothing left to send, all five kept
    assert outbox.pending() == []
    assert state.bytes > 0
    done = outbox.confirm([(seqs[0], seqs[-1])], grace_s=60, resends=3)
    assert (done.confirmed, done.resent, done.let_go) == (5, [], 0)
    state = outbox.state()
    assert (state.awaiting_receipt, state.bytes, state.dropped_total, state.unreceipted_total) == (0, 0, 0, 0)


def test_without_receipts_a_puback_ends_the_message(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", clock=Clock())
    seqs = [m.seq for m in outbox.append([message(n) for n in range(3)])]
    outbox.ack(seqs)
    assert (outbox.state().awaiting_receipt, outbox.state().bytes) == (0, 0)


def test_a_later_receipt_sends_again_what_the_broker_lost(tmp_path: Path) -> None:
    clock = Clock()
    outbox = holding(tmp_path, clock)
    seqs = [m.seq for m in outbox.append([message(n) for n in range(10)])]
    outbox.ack(seqs[:4])  # acknowledged, then lost by a broker that crashed before saving them
    clock.now += 30
    outbox.ack(seqs[4:6])  # acknowledged 30 s later: may still be on its way (another worker's batch)
    clock.now += 60
    outbox.ack(seqs[6:])
    done = outbox.confirm([(seqs[6], seqs[9])], grace_s=60, resends=3)
    # Delivered more than the grace before the confirmed ones: skipped. Within the grace: not yet.
    assert done.resent == seqs[:4]
    assert [m.seq for m, attempts in outbox.parked()] == seqs[:4]  # the retry path sends them at once
    assert all(attempts == 0 for _m, attempts in outbox.parked())
    assert outbox.state().awaiting_receipt == 2
    outbox.ack(seqs[:4])  # sent again and acknowledged: waiting for their receipt once more
    assert outbox.parked() == []
    assert outbox.confirm([(seqs[0], seqs[5])], grace_s=60, resends=3).confirmed == 6
    state = outbox.state()
    assert (state.depth, state.awaiting_receipt, state.bytes, state.unreceipted_total) == (0, 0, 0, 0)


def test_a_message_sent_again_too_often_is_let_go_and_counted(tmp_path: Path) -> None:
    clock = Clock()
    outbox = holding(tmp_path, clock)
    lost, confirmed = (m.seq for m in outbox.append([message(0), message(1)]))
    for _attempt in range(2):  # the backend never confirms `lost` (say it cannot read its sender)
        outbox.ack([lost])
        clock.now += 100
        outbox.ack([confirmed])
        outbox.confirm([(confirmed, confirmed)], grace_s=60, resends=1)
        if outbox.state().unreceipted_total == 0:
            confirmed = outbox.append([message(2)])[0].seq
    state = outbox.state()
    assert (state.unreceipted_total, state.dropped_total, state.awaiting_receipt, state.bytes) == (1, 0, 0, 0)


def test_the_receipt_window_lets_old_messages_go_counted_apart_from_drops(tmp_path: Path) -> None:
    clock = Clock()
    outbox = holding(tmp_path, clock)
    first = [m.seq for m in outbox.append([message(n) for n in range(3)])]
    outbox.ack(first)
    clock.now += WEEK.total_seconds() + 1
    outbox.append([message(9)])  # each append enforces the limits
    state = outbox.state()
    assert (state.awaiting_receipt, state.unreceipted_total, state.dropped_total, state.depth) == (0, 3, 0, 1)


def test_the_quota_takes_messages_awaiting_a_receipt_before_unsent_ones(tmp_path: Path) -> None:
    clock = Clock()
    outbox = holding(tmp_path, clock, max_bytes=2_000)
    delivered = [m.seq for m in outbox.append([message(n, 300) for n in range(4)])]
    outbox.ack(delivered)
    unsent = [m.seq for m in outbox.append([message(n, 300) for n in range(4, 7)])]
    state = outbox.state()
    assert state.bytes <= 2_000
    assert [m.seq for m in outbox.pending()] == unsent  # nothing the broker has not seen was dropped
    assert state.dropped_total == 0
    assert state.unreceipted_total == 4 - state.awaiting_receipt > 0


def test_an_outbox_file_from_before_receipts_gains_them_and_keeps_its_queue(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE messages (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,
            retain INTEGER NOT NULL, created REAL NOT NULL, will INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters VALUES ('next_seq', 2), ('dropped_total', 0), ('bytes', 20);
        INSERT INTO messages VALUES (0, 'a/b', x'00', 0, 1.0, 0), (1, 'a/b', x'01', 0, 2.0, 0);
        """
    )
    old.commit()
    old.close()
    outbox = Outbox(path, receipt_window=WEEK, clock=Clock())
    assert [m.seq for m in outbox.pending()] == [0, 1]
    outbox.ack([0])
    assert (outbox.state().depth, outbox.state().awaiting_receipt) == (1, 1)
    assert outbox.append([message(0)])[0].seq == 2


def test_a_receipt_never_takes_a_message_not_yet_sent(tmp_path: Path) -> None:
    """Only messages the broker acknowledged leave on a receipt: one whose PUBACK was lost with its
    connection goes out again (a duplicate storage overwrites), one not sent yet stays queued."""
    outbox = holding(tmp_path, Clock())
    sent, unsent = (m.seq for m in outbox.append([message(0), message(1)]))
    outbox.ack([sent])
    done = outbox.confirm([(sent, unsent)], grace_s=60, resends=3)
    assert done.confirmed == 1
    assert [m.seq for m in outbox.pending()] == [unsent]


def test_a_publisher_refuses_an_outbox_opened_against_its_receipt_setting(tmp_path: Path) -> None:
    # The trap: awaiting receipts on an outbox that deletes at the PUBACK never resends what a receipt
    # shows lost; an outbox waiting for receipts no publisher takes keeps every message for a week.
    for await_receipts, window in ((True, None), (False, WEEK)):
        mqtt = MqttConfig(host="127.0.0.1", await_receipts=await_receipts)
        outbox = Outbox(tmp_path / f"outbox-{await_receipts}.db", receipt_window=window)
        with pytest.raises(ValueError, match=r"MqttConfig\.outbox_receipt_window"):
            Publisher(mqtt, outbox, Identity("s", "g"))
        Publisher(
            mqtt,
            Outbox(tmp_path / f"right-{await_receipts}.db", receipt_window=mqtt.outbox_receipt_window),
            Identity("s", "g"),
        )
