"""Triage of single messages: what is accepted becomes points, the rest a dead letter with its reason."""

from __future__ import annotations

import pytest

from backend.ingest.intake import Accepted, triage
from backend.ingest.spool import DeadLetter
from pantau.contract import Topics, encode
from pantau.contract.examples import example_messages
from tests.backend.ingest.corpus import Malformed, malformed_corpus
from tests.harness.backend import readings, topic_for

TOPICS = Topics("pantau/v1")


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
    outcome = triage("pantau/v1/ampal-mufakat/wl-radar-1/readings", encode(message), TOPICS, 1.0)
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
    outcome = triage(topic, encode(message), TOPICS, 1.0)
    assert isinstance(outcome, Accepted)
    assert [p.measurement for p in outcome.points] == [kind]


def test_an_empty_payload_clears_a_retained_topic_and_is_ignored() -> None:
    assert triage("pantau/v1/ampal-mufakat/status", b"", TOPICS, 1.0) is None
