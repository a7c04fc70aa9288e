"""The outbox's refused-message path: parked, then dead-lettered with its sequence number after `limit`
refusals, re-queued or dropped by a technician, bounded by the same quota and age, and every sequence
number always in one place (delivered, queued, dead-lettered or counted as dropped). The CLI on top."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from gateway.dead_letters import Refusal
from gateway.outbox import Outbox
from pantau.cli import cli
from pantau.site.config import MqttConfig
from tests.gateway.test_cli import SITES

NOT_AUTHORIZED = Refusal(0, 0x87, "Not authorized")


def builders(count: int, size: int = 10) -> list:  # type: ignore[type-arg]
    return [lambda seq: (f"t/{seq}", b"x" * size, False) for _ in range(count)]


def refusal(seq: int) -> Refusal:
    return Refusal(seq, NOT_AUTHORIZED.reason_code, NOT_AUTHORIZED.reason)


def accounted(outbox: Outbox, delivered: int) -> int:
    state = outbox.state()
    return delivered + state.depth + state.dead_letters + state.dropped_total


def test_a_refused_message_is_parked_then_dead_lettered_with_its_seq(tmp_path: Path) -> None:
    now = [1000.0]
    outbox = Outbox(tmp_path / "outbox.db", clock=lambda: now[0])
    outbox.append(builders(3))
    size = outbox.state().bytes
    assert outbox.refuse([refusal(1)], limit=2) == []
    assert [m.seq for m in outbox.pending()] == [0, 2]  # the queue's cursors go on past it
    assert [(m.seq, attempts) for m, attempts in outbox.parked()] == [(1, 1)]
    now[0] += 5
    assert outbox.refuse([refusal(1)], limit=2) == [1]
    assert outbox.parked() == []
    (letter,) = outbox.dead_letters()
    assert (letter.message.seq, letter.message.topic, letter.reason_code, letter.reason) == (
        1, "t/1", 0x87, "Not authorized",
    )  # fmt: skip
    assert (letter.attempts, letter.first_at, letter.last_at) == (2, 1000.0, 1005.0)
    state = outbox.state()
    assert (state.depth, state.dead_letters, state.dead_lettered_total, state.bytes) == (2, 1, 1, size)
    outbox.ack([0, 2])
    assert accounted(outbox, delivered=2) == outbox.state().next_seq == 3


def test_a_refusal_of_a_message_already_gone_is_not_counted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append(builders(2))
    outbox.refuse([refusal(0)], limit=3)
    outbox.ack([0, 1])  # accepted on a retry: its refusals go with it
    assert outbox.refuse([refusal(1)], limit=1) == []
    assert outbox.parked() == outbox.dead_letters() == []


def test_requeue_puts_dead_letters_back_parked_with_their_seqs_and_drop_counts_them(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append(builders(4))
    assert outbox.refuse([refusal(1), refusal(2), refusal(3)], limit=1) == [1, 2, 3]
    assert outbox.requeue([2, 9]) == [2]  # 9 is no dead letter
    assert [(m.seq, attempts) for m, attempts in outbox.parked()] == [(2, 0)]  # sent first, by the retry path
    assert [m.seq for m in outbox.pending()] == [0]
    size = outbox.state().bytes
    assert outbox.drop() == [1, 3]
    state = outbox.state()
    assert (state.dead_letters, state.dropped_total, state.dead_lettered_total) == (0, 2, 3)
    assert state.bytes == size - 2 * len(b"t/1" + b"x" * 10)
    assert outbox.append(builders(1))[0].seq == 4  # no number reused
    assert accounted(outbox, delivered=0) == outbox.state().next_seq == 5


def test_dead_letters_go_first_under_the_quota_and_expire_with_age(tmp_path: Path) -> None:
    now = [1000.0]
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=1000, max_age=timedelta(hours=1), clock=lambda: now[0])
    for _ in range(8):
        outbox.append(builders(1, size=95))
    outbox.refuse([refusal(6), refusal(7)], limit=1)
    outbox.append(builders(4, size=95))  # 12 of 98 bytes: two over the quota
    assert outbox.dead_letters() == []  # the refused went first...
    assert [m.seq for m in outbox.pending()] == [*range(6), 8, 9, 10, 11]  # ...the deliverable stayed
    assert outbox.state().dropped_total == 2
    outbox.refuse([refusal(8)], limit=1)
    now[0] += 3601
    outbox.append(builders(1))
    assert outbox.dead_letters() == []
    assert [m.seq for m in outbox.pending()] == [12]
    assert outbox.state().dropped_total == 2 + 10


def test_an_outbox_file_of_an_earlier_version_gains_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE messages (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,"
            " retain INTEGER NOT NULL, created REAL NOT NULL, will INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO counters VALUES ('next_seq', 1), ('dropped_total', 0), ('bytes', 4);"
            "INSERT INTO messages VALUES (0, 't/0', x'00', 0, 1.0, 0);"
        )
    db.close()
    outbox = Outbox(path)
    assert outbox.refuse([refusal(0)], limit=1) == [0]
    state = outbox.state()
    assert (state.depth, state.dead_letters, state.dead_lettered_total, state.next_seq) == (0, 1, 1, 1)


def test_the_number_of_refusals_is_validated() -> None:
    for bad in (0, 101, "three"):
        with pytest.raises(ValidationError, match="dead_letter_after"):
            MqttConfig(host="broker", dead_letter_after=bad)  # type: ignore[arg-type]
    assert MqttConfig(host="broker").dead_letter_after == 3


def test_the_cli_lists_requeues_and_drops(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", clock=lambda: 1_796_284_800.0)  # 2026-12-03T08:00:00Z
    outbox.append(builders(3))
    outbox.refuse([refusal(0), refusal(2)], limit=1)
    site = yaml.safe_load((SITES / "ampal-mufakat.yaml").read_text())
    site["outbox"]["path"] = str(outbox.path)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(site, allow_unicode=True))

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["gateway", "dead-letters", "--config", str(site_file), *args])
        assert result.exit_code == 0, result.output
        return result.output

    lines = run().splitlines()
    assert lines[0] == f"{outbox.path}: 2 dead letter(s)"
    assert lines[2].split() == [
        "0", "t/0", "Not", "authorized", "(0x87)", "2026-12-03T08:00:00Z", "2026-12-03T08:00:00Z", "1",
    ]  # fmt: skip
    assert run("--requeue", "0") == "re-queued 1 message(s): 0\n"
    assert run("--drop", "all") == "dropped 1 message(s): 2\n"
    assert run() == f"{outbox.path}: 0 dead letter(s)\n"
    refused = CliRunner().invoke(cli, ["gateway", "dead-letters", "--config", str(site_file), "--drop", "2"])
    assert refused.exit_code == 1 and "not dead letters (any more): 2" in refused.output
    both = CliRunner().invoke(
        cli, ["gateway", "dead-letters", "--config", str(site_file), "--drop", "1", "--requeue", "1"]
    )
    assert both.exit_code == 2 and "not both" in both.output
