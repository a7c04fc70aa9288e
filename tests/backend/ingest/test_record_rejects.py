"""A gateway's sample of a refused record lands in the dead-letter store, under its own reason, with the
message as sent (issue 21: rejected records were invisible outside the gateway box)."""

from __future__ import annotations

from backend.ingest.intake import triage
from backend.ingest.record_rejects import RECORD_REJECT
from backend.ingest.spool import DeadLetter
from pantau.contract import RecordReject, Topics, encode
from pantau.contract.examples import example_messages
from tests.harness.backend import topic_for


def test_a_record_reject_becomes_a_dead_letter_naming_device_reason_and_field() -> None:
    topics = Topics()
    message = example_messages()["record_reject"]
    assert isinstance(message, RecordReject)
    payload = encode(message)
    outcome = triage(topic_for(topics, message), payload, topics, received_at=1.8e9)
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == RECORD_REJECT
    assert (
        outcome.detail == "wim-1: bad_field: gvw: '3164O' is not a number (+3 more of this kind not sampled)"
    )
    assert outcome.payload == payload
    assert outcome.topic == "pantau/v1/soekarno-hatta-km13/wim-1/rejects"


def test_a_record_reject_on_another_devices_topic_is_refused_as_such() -> None:
    topics = Topics()
    message = example_messages()["record_reject"]
    outcome = triage("pantau/v1/soekarno-hatta-km13/wim-2/rejects", encode(message), topics, 1.8e9)
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "topic_mismatch"
