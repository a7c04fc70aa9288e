"""The fault suite's counting, on records made up here: each way of losing or doubling a reading is seen,
and only the documented exceptions are excused (so a scenario reporting 0 lost means something)."""

from __future__ import annotations

from tests.faults.ledger import Evidence, reckon
from tests.harness.tally_device import Served

WALL = 1_796_000_000.0  # the wall clock of the first answer


def served(*values: int, start: float = 100.0) -> list[Served]:
    """Numbers served a quarter of a second apart from `start` (monotonic seconds; wall clock from WALL)."""
    return [Served(value, start + 0.25 * i, WALL + 0.25 * i) for i, value in enumerate(values)]


def failed_poll(seconds_after_wall: float) -> tuple[int, None]:
    return (int((WALL + seconds_after_wall) * 1e6), None)


def stored(*values: int) -> list[tuple[int, int]]:
    return [(1_000_000 * value, value) for value in values]


def test_everything_served_is_stored_once() -> None:
    count = reckon(Evidence({"a": served(1, 2, 3)}, {"a": stored(1, 2, 3)}), "s", 1)
    assert (count.read, count.stored, count.lost, count.duplicated, count.phantom) == (3, 3, 0, 0, 0)
    assert count.verdict == "ok"


def test_one_reading_missing_is_lost_and_named() -> None:
    count = reckon(Evidence({"a": served(1, 2, 3)}, {"a": stored(1, 3)}), "s", 1)
    assert count.lost == 1
    assert count.verdict == "FAIL"
    assert "no. 2" in count.explain()


def test_a_reading_stored_at_two_times_or_two_at_one_time_is_duplicated() -> None:
    twice = [*stored(1, 2), (5_000_000, 2)]
    assert reckon(Evidence({"a": served(1, 2)}, {"a": twice}), "s", 1).duplicated == 1
    same_time = [(1_000_000, 1), (1_000_000, 2)]
    count = reckon(Evidence({"a": served(1, 2)}, {"a": same_time}), "s", 1)
    assert count.duplicated == 1
    assert count.verdict == "FAIL"


def test_a_number_no_device_served_intact_is_a_phantom() -> None:
    count = reckon(Evidence({"a": served(1, 2)}, {"a": stored(1, 2, 77)}), "s", 1)
    assert count.phantom == 1
    assert count.verdict == "FAIL"


def test_only_the_poll_a_gateway_kill_interrupted_is_in_flight() -> None:
    # 1..4 served at 100.00, 100.25, 100.50, 100.75; the gateway killed at 100.6: 3 was in its hands.
    evidence = Evidence({"a": served(1, 2, 3, 4)}, {"a": stored(1, 2, 4)}, gateway_kills=[(100.6, 100.6)])
    count = reckon(evidence, "s", 1)
    assert (count.in_flight, count.lost) == (1, 0)
    # 2 missing as well: older than the poll in hand, so it was committed and then lost.
    evidence = Evidence({"a": served(1, 2, 3, 4)}, {"a": stored(1, 4)}, gateway_kills=[(100.6, 100.6)])
    count = reckon(evidence, "s", 1)
    assert (count.in_flight, count.lost) == (1, 1)


def test_quota_drops_are_excused_only_when_seen_dropped_and_counted() -> None:
    evidence = Evidence(
        {"a": served(1, 2, 3, 4)}, {"a": stored(3, 4)}, dropped_counted=5, quota_dropped={"a": {1, 2}}
    )
    count = reckon(evidence, "s", 1)
    assert (count.dropped_readings, count.lost, count.verdict) == (2, 0, "ok")
    # The gateway's counter says fewer than went: an uncounted drop fails.
    evidence.dropped_counted = 1
    assert reckon(evidence, "s", 1).verdict == "FAIL"


def test_an_answer_the_gateway_gave_up_on_is_late_when_it_reported_that_poll_failed() -> None:
    # 2 left the device at WALL + 0.25 s; the gateway stamped a failed poll 0.3 s earlier (its timeout).
    evidence = Evidence({"a": served(1, 2, 3)}, {"a": [*stored(1, 3), failed_poll(-0.05)]})
    count = reckon(evidence, "s", 1)
    assert (count.late, count.lost, count.verdict) == (1, 0, "ok")
    # One failed poll excuses one answer, and only one that left after it.
    evidence = Evidence({"a": served(1, 2, 3)}, {"a": [*stored(1), failed_poll(-0.05)]})
    assert (reckon(evidence, "s", 1).late, reckon(evidence, "s", 1).lost) == (1, 1)
    evidence = Evidence({"a": served(1, 2, 3)}, {"a": [*stored(1, 3), failed_poll(0.6)]})
    assert reckon(evidence, "s", 1).lost == 1


def test_a_gateway_that_stopped_by_itself_fails_the_scenario_even_without_a_loss() -> None:
    evidence = Evidence({"a": served(1)}, {"a": stored(1)}, gateway_exits=["exited 1: disk full"])
    assert reckon(evidence, "s", 1).verdict == "FAIL"


def test_a_scenario_where_nothing_was_read_proves_nothing() -> None:
    assert reckon(Evidence({"a": []}, {"a": []}), "s", 1).verdict == "FAIL"


def test_readings_a_full_disk_kept_out_are_excused_only_while_full_and_counted() -> None:
    # 1..4 served from 100.00 every 0.25 s; the disk full from 100.4 to 100.6, so 3 (100.50) and the polls
    # up to the gateway's next store attempt (the back-off cap after it was freed) met the full disk.
    evidence = Evidence(
        {"a": served(1, 2, 3, 4)}, {"a": stored(1, 2, 4)}, disk_full=[(100.4, 100.6)], unstored_counted=1
    )
    count = reckon(evidence, "s", 1)
    assert (count.unstored_readings, count.lost, count.verdict) == (1, 0, "ok")
    # More missing than the gateway counted as not stored: a loss.
    evidence.unstored_counted = 0
    assert reckon(evidence, "s", 1).verdict == "FAIL"
    # Outside the window nothing is excused: 1 was served well before the disk filled.
    evidence = Evidence(
        {"a": served(1, 2, 3, 4)}, {"a": stored(2, 3, 4)}, disk_full=[(100.4, 100.6)], unstored_counted=5
    )
    assert (reckon(evidence, "s", 1).unstored_readings, reckon(evidence, "s", 1).lost) == (0, 1)
