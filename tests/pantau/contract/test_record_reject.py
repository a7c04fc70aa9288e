"""The `record_reject` message and its topic (issue 21): a gateway's sample of a frame its record stream
refused, on `{prefix}/{site}/{device}/rejects`."""

from __future__ import annotations

import json

import pytest

from pantau.contract import (
    InvalidMessage,
    RecordReject,
    TopicKind,
    TopicMismatch,
    TopicRef,
    Topics,
    decode,
    encode,
)
from pantau.contract.examples import example_messages

topics = Topics()


def test_the_rejects_topic_is_built_parsed_and_subscribed() -> None:
    topic = topics.record_rejects("soekarno-hatta-km13", "wim-1")
    assert topic == "pantau/v1/soekarno-hatta-km13/wim-1/rejects"
    assert topics.parse(topic) == TopicRef(TopicKind.RECORD_REJECTS, "soekarno-hatta-km13", device="wim-1")
    assert topics.for_message(TopicKind.RECORD_REJECTS, "s", "d") == "pantau/v1/s/d/rejects"
    assert "pantau/v1/+/+/rejects" in topics.all_gateway_traffic()


def test_a_reject_decodes_on_its_topic_only() -> None:
    message = example_messages()["record_reject"]
    assert isinstance(message, RecordReject)
    payload = encode(message)
    assert decode(payload, topic="pantau/v1/soekarno-hatta-km13/wim-1/rejects") == message
    with pytest.raises(TopicMismatch, match="carries 'vehicle' messages"):
        decode(payload, topic="pantau/v1/soekarno-hatta-km13/wim-1/vehicles")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"excerpt": "412,\x00"}, "excerpt"),
        ({"excerpt": "x" * 801}, "excerpt"),
        ({"unsampled": -1}, "unsampled"),
        ({"field": "f" * 65}, "field"),
    ],
)
def test_what_a_reject_may_carry_is_bounded(change: dict[str, object], where: str) -> None:
    document = example_messages()["record_reject"].model_dump(mode="json") | change
    with pytest.raises(InvalidMessage, match=where):
        decode(json.dumps(document))
