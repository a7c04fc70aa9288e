"""The contract decoder under fuzzing: arbitrary JSON documents, and mutations of every example message
(fields dropped, retyped, replaced), decoded with and without their topic. Whatever arrives, decode()
returns a message or raises a ContractError with its reason and a message; nothing else escapes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from pantau.contract import codec
from pantau.contract.errors import ContractError
from pantau.contract.examples import example_messages
from pantau.contract.topics import Topics
from tests.fuzz.profiles import FUZZ

EXAMPLES = {kind: json.loads(codec.encode(message)) for kind, message in example_messages().items()}
TOPICS = Topics()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def topic_of(document: dict[str, Any]) -> str:
    """The topic the example was published on (mutations keep it, so a changed id must mismatch)."""
    message = example_messages()[document["kind"]]
    site, device = message.site, getattr(message, "device", None)
    if document["kind"] == "alert":
        return TOPICS.alert(site, document["rule"], document.get("device"), document.get("channel"))
    if document["kind"] == "receipt":
        return TOPICS.receipts(site)
    if device is None:
        return TOPICS.gateway_status(site)
    leaf = {"readings": "readings", "vehicle": "vehicles", "device_status": "status"}
    return f"{TOPICS.prefix}/{site}/{device}/{leaf.get(document['kind'], 'rejects')}"


@st.composite
def mutated_examples(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(EXAMPLES)))
    document = json.loads(json.dumps(EXAMPLES[kind]))
    original_topic = topic_of(document)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        target = _pick_container(draw, document)
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["drop", "retype", "rename"]))
        if action == "drop":
            del target[key]
        elif action == "retype":
            target[key] = draw(json_values)
        elif isinstance(target, dict):
            target[draw(st.text(max_size=12))] = target.pop(key)
    return original_topic, document


def _pick_container(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """A dict or list somewhere in the document, reached by walking down a few random steps."""
    node: dict[str, Any] | list[Any] = document
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        children = [
            c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, dict | list)
        ]
        if not children:
            break
        node = draw(st.sampled_from(children))
    return node


def assert_decodes_or_refuses(payload: bytes | str, topic: str | None = None) -> None:
    refusal: ContractError | None = None
    try:
        codec.decode(payload, topic=topic, topics=TOPICS if topic else None)
    except ContractError as exc:  # anything else escapes and fails the test
        refusal = exc
    if refusal is not None:
        assert refusal.reason, f"{type(refusal).__name__} without a reason"
        assert str(refusal).strip(), f"{type(refusal).__name__} ({refusal.reason}) without a message"


@FUZZ
@given(document=json_values)
def test_arbitrary_json_decodes_or_is_refused_with_a_reason(document: object) -> None:
    assert_decodes_or_refuses(json.dumps(document))


@FUZZ
@given(payload=st.binary(max_size=300))
@example(payload=b'{"kind": "readings", "schema_version": 1, "channels": {"\xff": 1}}')
@example(payload=b"\xef\xbb\xbf{}")
def test_arbitrary_bytes_decode_or_are_refused_with_a_reason(payload: bytes) -> None:
    assert_decodes_or_refuses(payload)


@FUZZ
@given(mutation=mutated_examples(), with_topic=st.booleans())
def test_mutated_example_messages_decode_or_are_refused_with_a_reason(
    mutation: tuple[str, dict[str, Any]], with_topic: bool
) -> None:
    topic, document = mutation
    assert_decodes_or_refuses(json.dumps(document), topic if with_topic else None)


@FUZZ
@given(topic=st.text(max_size=60) | st.from_regex(r"pantau/[^/]{0,8}(/[^/]{0,8}){0,4}", fullmatch=True))
def test_an_example_on_an_arbitrary_topic_is_accepted_or_refused_with_a_reason(topic: str) -> None:
    for document in EXAMPLES.values():
        assert_decodes_or_refuses(json.dumps(document), topic)


def test_the_unmutated_examples_decode_on_their_topics() -> None:
    """The seeds are valid, so what the mutations find is the mutation's doing."""
    for kind, document in EXAMPLES.items():
        assert codec.decode(json.dumps(document), topic=topic_of(document), topics=TOPICS).kind == kind
