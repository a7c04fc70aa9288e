"""The models' cross-field rules, stated in JSON Schema for `docs/schema/`.

pydantic writes a field's own constraints into the schema but not what a `model_validator` checks, so the
rules JSON Schema can express are written here once more, next to nothing else, as `if`/`then` clauses the
models attach to their schemas. A test table (tests/pantau/contract/cases/invalid.yaml) holds each rule
against both the decoder and the published schema; the rules JSON Schema cannot express are listed in
docs/contract.md.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic.config import JsonDict

#: `quality` absent means `good` (the default), which `properties` alone matches too.
_GOOD: Final = {"properties": {"quality": {"const": "good"}}}
_NOT_GOOD: Final = {
    "required": ["quality"],
    "properties": {"quality": {"enum": ["suspect", "bad", "missing", "clock_skew"]}},
}
_NO_REASON: Final = {"properties": {"reason": {"type": "null"}}}
_A_REASON: Final = {"required": ["reason"], "properties": {"reason": {"type": "string"}}}

#: Reading: `missing` carries no value or text; `good`/`suspect` carry one; a reason exactly when not `good`.
READING_RULES: Final[list[dict[str, Any]]] = [
    {
        "if": {"required": ["quality"], "properties": {"quality": {"const": "missing"}}},
        "then": {"properties": {"value": {"type": "null"}, "text": {"type": "null"}}},
    },
    {
        "if": {"properties": {"quality": {"enum": ["good", "suspect"]}}},
        "then": {
            "anyOf": [
                {"required": ["value"], "properties": {"value": {"type": "number"}}},
                {"required": ["text"], "properties": {"text": {"type": "string"}}},
            ]
        },
    },
    {"if": _GOOD, "then": _NO_REASON},
    {"if": _NOT_GOOD, "then": _A_REASON},
]

#: Vehicle: never `missing`; a reason exactly when not `good`.
VEHICLE_RULES: Final[list[dict[str, Any]]] = [
    {"not": {"required": ["quality"], "properties": {"quality": {"const": "missing"}}}},
    {"if": _GOOD, "then": _NO_REASON},
    {"if": _NOT_GOOD, "then": _A_REASON},
]

#: The gateway's clock: a reason exactly when it is not plausible.
GATEWAY_CLOCK_RULES: Final[list[dict[str, Any]]] = [
    {
        "if": {"properties": {"plausible": {"const": True}}},
        "then": {"properties": {"reason": {"type": "null"}}},
        "else": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
    },
]

#: Alert: a channel belongs to a device (the alert's topic names the device before the channel).
ALERT_RULES: Final[list[dict[str, Any]]] = [
    {
        "if": {"required": ["channel"], "properties": {"channel": {"type": "string"}}},
        "then": {"required": ["device"], "properties": {"device": {"type": "string"}}},
    },
]


def add_rules(schema: JsonDict, rules: list[dict[str, Any]]) -> None:
    """Attach `rules` to a model's schema as `allOf` (every rule must hold)."""
    schema["allOf"] = [dict(rule) for rule in rules]
