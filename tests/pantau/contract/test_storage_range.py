"""Every integer the contract accepts fits storage (issue 21, defect 2): InfluxDB integer fields and SQLite
INTEGER are signed 64-bit, and a count past that once passed the contract and was refused by storage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pantau.contract import Readings, decode, encode
from pantau.contract.examples import example_messages
from pantau.contract.fields import INT64_MAX, INT64_MIN
from pantau.contract.schema import schema_documents


def _integers(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "integer" and "const" not in node:
            yield path, node
        for key, value in node.items():
            yield from _integers(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _integers(value, f"{path}/{index}")


@pytest.mark.parametrize("name", sorted(schema_documents()))
def test_every_integer_in_the_published_schema_is_bounded_to_int64(name: str) -> None:
    integers = list(_integers(schema_documents()[name], name))
    assert integers, "the walk found no integer at all"
    unbounded = [
        path
        for path, node in integers
        if not (
            node.get("minimum", INT64_MIN - 1) >= INT64_MIN
            and node.get("maximum", INT64_MAX + 1) <= INT64_MAX
        )
    ]
    assert not unbounded, f"integers storage cannot be sure to hold: {unbounded}"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("1152921504606846977", 2**60 + 1),  # a 64-bit counter past 2**53: exact, an integer
        ("-9223372036854775808", INT64_MIN),
        ("17", 17),  # an integer stays an integer, never 17.0
        ("17.0", 17.0),  # and a float stays a float
        ("2.5", 2.5),
        ("100000000000000000000000000000", 1e29),  # beyond int64 no storage counts: a number, rounded
    ],
)
def test_a_reading_value_keeps_its_integer_exactly_on_the_wire(sent: str, kept: float) -> None:
    payload = json.loads(encode(example_messages()["readings"]))
    payload["channels"]["level"]["value"] = "VALUE"
    text = json.dumps(payload).replace('"VALUE"', sent)
    message = decode(text)
    assert isinstance(message, Readings)
    value = message.channels["level"].value
    assert value == kept and type(value) is type(kept)
    assert f'"value":{json.dumps(kept)}' in encode(message).decode()
