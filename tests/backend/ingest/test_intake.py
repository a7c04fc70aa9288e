"""Triage of single messages: what is accepted becomes points, the rest a dead letter with its reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.ingest.intake import Accepted, triage
from backend.ingest.spool import DeadLetter
from pantau.contract import GatewayClock, GatewayStatus, Topics, encode
from pantau.contract.examples import example_messages
from tests.backend.ingest.corpus import Malformed, malformed_corpus
from tests.harness.backend import T0, readings, topic_for

TOPICS = Topics("pantau/v1")
#: When the test messages arrive: a day after the harness's readings and the contract's examples were taken.
ARRIVAL = (T0 + timedelta(days=1)).timestamp()


@pytest.mark.parametrize("case", malformed_corpus(), ids=lambda case: case.name)
def test_malformed_payload_becomes_a_dead_letter_with_its_reason(case: Malformed) -> None:
    outcome = triage(f"pantau/v1/{case.topic}", case.payload, TOPICS, received_at=1.0)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.reason, outcome.topic, outcome.payload, outcome.size) == (
        case.reason,
        f"pantau/v1/{case.topic}",
        case.payload,
        len(case.payload),
    )
    assert outcome.detail  # a person can read why


def test_the_corpus_covers_every_reason_the_contract_names() -> None:
    reasons = {case.reason for case in malformed_corpus()}
    assert reasons == {"bad_json", "schema_version", "invalid", "topic_mismatch", "bad_topic", "oversize"}


def test_readings_become_one_point_per_channel() -> None:
    message = readings(7)
    outcome = triage("pantau/v1/ampal-mufakat/wl-radar-1/readings", encode(message), TOPICS, ARRIVAL)
    assert isinstance(outcome, Accepted)
    assert outcome.message == message
    assert sorted(p.tags["channel"] for p in outcome.points) == ["distance", "level", "signal_quality"]
    missing = next(p for p in outcome.points if p.tags["channel"] == "signal_quality")
    assert "value" not in missing.fields
    assert missing.fields["quality"] == "missing"


@pytest.mark.parametrize("kind", ["vehicle", "gateway_status", "device_status"])
def test_other_gateway_messages_become_one_point(kind: str) -> None:
    message = example_messages()[kind]
    topic = topic_for(TOPICS, message)
    outcome = triage(topic, encode(message), TOPICS, ARRIVAL)
    assert isinstance(outcome, Accepted)
    assert [p.measurement for p in outcome.points] == [kind]


def test_an_empty_payload_clears_a_retained_topic_and_is_ignored() -> None:
    assert triage("pantau/v1/ampal-mufakat/status", b"", TOPICS, ARRIVAL) is None


def test_readings_dated_ahead_of_arrival_are_stored_marked_clock_skew() -> None:
    message = readings(7, at=T0 + timedelta(days=3653))  # a gateway clock ten years ahead
    outcome = triage(topic_for(TOPICS, message), encode(message), TOPICS, T0.timestamp())
    assert isinstance(outcome, Accepted)
    by_channel = {p.tags["channel"]: p.fields for p in outcome.points}
    assert by_channel["level"]["quality"] == "clock_skew" and by_channel["level"]["reason"] == "clock_ahead"
    assert by_channel["level"]["value"] == message.channels["level"].value  # kept as read
    assert by_channel["level"]["qc_flag"] == 3
    assert "3653 days ahead of its arrival" in str(by_channel["level"]["detail"])
    assert by_channel["signal_quality"]["quality"] == "missing"  # nothing to date: stays missing


@pytest.mark.parametrize(
    ("ahead", "marked"),
    [
        (timedelta(minutes=5), False),  # the default allowance, inclusive
        (timedelta(minutes=5, seconds=1), True),
        (-timedelta(days=14), False),  # a fortnight's outbox backlog: old is what a backlog looks like
    ],
)
def test_only_a_time_beyond_the_allowed_skew_ahead_is_marked(ahead: timedelta, marked: bool) -> None:
    message = readings(1, at=T0 + ahead)
    outcome = triage(topic_for(TOPICS, message), encode(message), TOPICS, T0.timestamp())
    assert isinstance(outcome, Accepted)
    assert (outcome.message.channels["level"].quality == "clock_skew") is marked


def test_the_allowed_skew_is_the_configured_one() -> None:
    message = readings(1, at=T0 + timedelta(minutes=1))
    outcome = triage(
        topic_for(TOPICS, message), encode(message), TOPICS, T0.timestamp(), timedelta(seconds=30)
    )
    assert isinstance(outcome, Accepted)
    assert outcome.message.channels["level"].quality == "clock_skew"


def test_the_gateway_s_verdict_on_its_clock_is_stored_with_its_status() -> None:
    status = example_messages()["gateway_status"]
    assert isinstance(status, GatewayStatus)
    stepped_at = status.ts - timedelta(minutes=3)
    clock = GatewayClock(
        plausible=False, reason="clock_stepped", not_before=T0, step_s=-3600.0, stepped_at=stepped_at
    )
    message = status.model_copy(update={"clock": clock})
    outcome = triage(topic_for(TOPICS, message), encode(message), TOPICS, ARRIVAL)
    assert isinstance(outcome, Accepted)
    (point,) = outcome.points
    assert (point.fields["clock_plausible"], point.fields["clock_reason"]) == (0, "clock_stepped")
    assert point.fields["clock_step_s"] == -3600.0
