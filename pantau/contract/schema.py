"""JSON Schema for every message, generated from the models into `docs/schema/`.

The files are committed so integrators in other languages can validate without Python;
`pantau contract schema --check` (run by the tests) fails when they fall behind the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from pantau.contract.messages import MESSAGE_TYPES, SCHEMA_VERSION, Message

SCHEMA_BASE_URI: Final = f"https://pantau.invalid/schema/v{SCHEMA_VERSION}/"


class ContractJsonSchema(GenerateJsonSchema):
    """pydantic's generator, with the two places it says less than the models (or says it in OpenAPI)."""

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        # A map keyed by slugs (`channels`) comes out as `patternProperties` alone, which lets any other key
        # through (`"Level"`); the model refuses those keys, so the schema must too.
        json_schema = super().dict_schema(schema)
        if "patternProperties" in json_schema:
            json_schema["additionalProperties"] = False
        return json_schema

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        # `discriminator` is OpenAPI's keyword, not JSON Schema's (ajv's strict mode refuses it). Each branch
        # has `kind` as a `const`, so the plain `oneOf` selects exactly one branch by itself.
        json_schema = super().tagged_union_schema(schema)
        json_schema.pop("discriminator", None)
        return json_schema


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema document, one per message kind plus `message` (any of them)."""
    documents: dict[str, dict[str, Any]] = {}
    for model in MESSAGE_TYPES:
        kind = model.model_fields["kind"].default
        documents[f"{kind}.schema.json"] = model.model_json_schema(
            mode="validation", schema_generator=ContractJsonSchema
        )
    documents["message.schema.json"] = TypeAdapter(Message).json_schema(
        mode="validation", schema_generator=ContractJsonSchema
    )
    for name, document in documents.items():
        document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        document["$id"] = SCHEMA_BASE_URI + name
    return documents


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    """Write every schema document into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in schema_documents().items():
        path = directory / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(directory: Path) -> list[str]:
    """Names of schema files in `directory` that are missing, differ from the models, or are left over."""
    expected = {name: render(document) for name, document in schema_documents().items()}
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text
    ]
    leftovers = [path.name for path in directory.glob("*.schema.json") if path.name not in expected]
    return sorted(stale + leftovers)
