"""The published JSON Schemas (docs/schema) read the way an integrator reads them: with Python `jsonschema`
(2020-12, formats checked), never with pantau's own models."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Final

from jsonschema import Draft202012Validator

REPO: Final = Path(__file__).resolve().parents[3]
SCHEMA_DIR: Final = REPO / "docs" / "schema"
#: Which schema file describes each message kind.
SCHEMA_FOR_KIND: Final = {
    "readings": "readings.schema.json",
    "vehicle": "vehicle.schema.json",
    "gateway_status": "gateway_status.schema.json",
    "device_status": "device_status.schema.json",
    "record_reject": "record_reject.schema.json",
    "alert": "alert.schema.json",
    "receipt": "receipt.schema.json",
}
MESSAGE_SCHEMA: Final = "message.schema.json"


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for one schema file that checks `format` (date-time) too, not just annotates it."""
    document = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    checker = Draft202012Validator.FORMAT_CHECKER
    # Without rfc3339-validator installed, jsonschema silently skips date-time: a check that checks nothing.
    assert "date-time" in checker.checkers, "install jsonschema[format-nongpl] (the dev extra does)"
    return Draft202012Validator(document, format_checker=checker)


def problems(name: str, payload: object) -> list[str]:
    """Every way `payload` fails schema file `name`; empty when it validates."""
    errors = validator(name).iter_errors(payload)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
