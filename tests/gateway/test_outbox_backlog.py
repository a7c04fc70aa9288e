"""Storing a poll cycle costs the same behind a backlog as with an empty queue: no statement an append runs
reads the whole queue. Each append drops messages past max_age, and that scanned every queued message: 0.2 ms
of CPU a cycle with an empty queue, 38 ms behind the 100,000 messages a long outage leaves (issue 18)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.outbox import Outbox

PAYLOAD = b"x" * 700


def build(_seq: int) -> tuple[str, bytes, bool]:
    return "pantau/v1/ampal-mufakat/wl-radar/readings", PAYLOAD, False


def test_an_append_reads_no_table_of_messages_whole(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append([build] * 2000)  # a backlog, so the planner has rows to weigh
    statements: list[str] = []
    outbox._db.set_trace_callback(statements.append)
    outbox.append([build] * 10)
    outbox._db.set_trace_callback(None)
    queries = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE"))]
    assert any("created <" in q for q in queries), statements  # the age limit ran: the case in point
    plans = {q: outbox._db.execute(f"EXPLAIN QUERY PLAN {q}").fetchall() for q in queries}
    scans = {q: plan for q, plan in plans.items() if any(row[3].startswith("SCAN messages") for row in plan)}
    assert not scans, scans
    outbox.close()


def test_an_outbox_made_before_the_index_gets_it_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX messages_created")
    outbox = Outbox(path)
    indexes = outbox._db.execute("PRAGMA index_list(messages)").fetchall()
    assert "messages_created" in {row[1] for row in indexes}
    outbox.close()
