"""decode(): the backend's front door. Every way a payload can be wrong gets its own error and reason code."""

from __future__ import annotations

import json

import pytest

from pantau.contract import (
    MAX_PAYLOAD_BYTES,
    ContractError,
    InvalidJson,
    InvalidMessage,
    PayloadTooLarge,
    TopicError,
    TopicMismatch,
    Topics,
    UnsupportedSchema,
    decode,
    encode,
)
from pantau.contract.examples import example_messages

READINGS = example_messages()["readings"]
READINGS_TOPIC = "pantau/v1/ampal-mufakat/wl-radar-1/readings"


def _payload(**changes: object) -> bytes:
    return json.dumps(json.loads(encode(READINGS)) | changes).encode()


def test_decode_checks_the_topic_it_arrived_on() -> None:
    assert decode(encode(READINGS), topic=READINGS_TOPIC) == READINGS


@pytest.mark.parametrize(
    ("payload", "error", "reason", "words"),
    [
        (b"", InvalidJson, "bad_json", "not valid JSON"),
        (b"\xff\xfe", InvalidJson, "bad_json", "not valid JSON"),
        (b"{'single': 'quotes'}", InvalidJson, "bad_json", "not valid JSON"),
        (b"[1, 2]", InvalidJson, "bad_json", "not an object"),
        (b"42", InvalidJson, "bad_json", "not an object"),
        (_payload(schema_version=2), UnsupportedSchema, "schema_version", "schema_version 2"),
        (_payload(schema_version="1"), UnsupportedSchema, "schema_version", "schema_version '1'"),
        (_payload(kind="telemetry"), InvalidMessage, "invalid", "kind"),
        (_payload(extra_field=1), InvalidMessage, "invalid", "extra_field"),
        (_payload(site="other-site"), TopicMismatch, "topic_mismatch", "site 'other-site'"),
        (_payload(device="wl-radar-2"), TopicMismatch, "topic_mismatch", "device 'wl-radar-2'"),
    ],
)
def test_each_failure_has_its_own_error_and_reason(
    payload: bytes, error: type[ContractError], reason: str, words: str
) -> None:
    with pytest.raises(error, match=words) as caught:
        decode(payload, topic=READINGS_TOPIC)
    assert caught.value.reason == reason
    assert READINGS_TOPIC in str(caught.value)


def test_nan_tokens_in_json_are_rejected() -> None:
    payload = encode(READINGS).replace(b'"value":2.173', b'"value":NaN')
    assert payload != encode(READINGS)
    with pytest.raises(InvalidMessage, match=r"channels\.level\.value"):
        decode(payload)


def test_oversize_payload_is_rejected_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge, match="over the 1024-byte limit") as caught:
        decode(b"{" + b" " * 2000 + b"}", max_bytes=1024)
    assert caught.value.reason == "oversize"
    assert MAX_PAYLOAD_BYTES >= 64 * 1024


def test_a_message_on_the_wrong_kind_of_topic_is_rejected() -> None:
    with pytest.raises(TopicMismatch, match="carries 'vehicle' messages, got 'readings'"):
        decode(encode(READINGS), topic="pantau/v1/ampal-mufakat/wl-radar-1/vehicles")


def test_an_alert_must_be_on_its_own_topic() -> None:
    alert = example_messages()["alert"]  # flood-level on wl-radar-1/level
    decode(encode(alert), topic="pantau/v1/alerts/ampal-mufakat/flood-level/wl-radar-1/level")
    for other in (
        "pantau/v1/alerts/ampal-mufakat/rate-of-rise/wl-radar-1/level",
        "pantau/v1/alerts/ampal-mufakat/flood-level/wl-radar-2/level",
        "pantau/v1/alerts/ampal-mufakat/flood-level/wl-radar-1/distance",
        "pantau/v1/alerts/ampal-mufakat/flood-level",  # the rule's topic: another alert's (one per series)
    ):
        with pytest.raises(TopicMismatch, match="alert"):
            decode(encode(alert), topic=other)


def test_a_foreign_topic_is_a_topic_error() -> None:
    with pytest.raises(TopicError):
        decode(encode(READINGS), topic="elsewhere/ampal-mufakat/wl-radar-1/readings")


def test_custom_prefix() -> None:
    topics = Topics("city/bpn")
    decode(encode(READINGS), topic="city/bpn/ampal-mufakat/wl-radar-1/readings", topics=topics)


def test_many_problems_are_summarised_and_all_kept() -> None:
    document = json.loads(encode(READINGS))
    document["channels"] = {f"c{i}": {"value": "x"} for i in range(8)}
    with pytest.raises(InvalidMessage, match=r"\(and 3 more\)") as caught:
        decode(json.dumps(document))
    assert len(caught.value.problems) == 8
    assert caught.value.problems[0][0] == "channels.c0.value"
