"""docs/schema says what the decoder enforces, to validators that are not pantau: Python `jsonschema` and
ajv (strict mode). Every message the decoder rejects in cases/invalid.yaml fails the published schema too,
or is listed in docs/contract.md as something JSON Schema cannot say (and then the schema does accept it,
so the list stays true)."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from pantau.contract import ContractError, decode, encode
from pantau.contract.examples import example_messages
from tests.harness.ajv import ajv_validate, install_ajv
from tests.pantau.contract.published import (
    MESSAGE_SCHEMA,
    REPO,
    SCHEMA_DIR,
    SCHEMA_FOR_KIND,
    problems,
    validator,
)

CASES: Final = Path(__file__).parent / "cases" / "invalid.yaml"
CONTRACT_DOC: Final = REPO / "docs" / "contract.md"
NOT_EXPRESSIBLE_HEADING: Final = "## What JSON Schema cannot say"


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    set: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    not_expressible: str | None = None
    ajv_accepts: str | None = None

    def payload(self) -> str:
        document = json.loads(encode(example_messages()[self.kind]))
        for path, value in self.set.items():
            *parents, last = _steps(path)
            _walk(document, parents)[last] = copy.deepcopy(value)
        for path in self.unset:
            *parents, last = _steps(path)
            del _walk(document, parents)[last]
        return json.dumps(document)


def _steps(path: str) -> list[str | int]:
    return [int(step) if step.isdigit() else step for step in path.split(".")]


def _walk(document: Any, steps: list[str | int]) -> Any:
    for step in steps:
        document = document[step]
    return document


def _cases() -> list[Case]:
    return [Case(**entry) for entry in yaml.safe_load(CASES.read_text(encoding="utf-8"))]


def _not_expressible_section() -> str:
    text = CONTRACT_DOC.read_text(encoding="utf-8")
    assert NOT_EXPRESSIBLE_HEADING in text, f"docs/contract.md needs a '{NOT_EXPRESSIBLE_HEADING}' section"
    return text.split(NOT_EXPRESSIBLE_HEADING, 1)[1].split("\n## ", 1)[0]


ALL_CASES: Final = _cases()


def test_case_names_are_unique() -> None:
    names = [case.name for case in ALL_CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json")))
def test_every_schema_is_plain_json_schema(name: str) -> None:
    validator(name)  # check_schema: a valid 2020-12 document
    text = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    for keyword in ("ge", "gt", "le", "lt", "discriminator"):  # pydantic's or OpenAPI's, not JSON Schema's
        assert f'"{keyword}":' not in text, f"{name} uses '{keyword}', which JSON Schema validators ignore"


@pytest.mark.parametrize("kind", sorted(SCHEMA_FOR_KIND))
def test_the_examples_validate(kind: str) -> None:
    payload = json.loads(encode(example_messages()[kind]))
    assert problems(SCHEMA_FOR_KIND[kind], payload) == []
    assert problems(MESSAGE_SCHEMA, payload) == []


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.name)
def test_what_the_decoder_rejects_the_schema_rejects(case: Case) -> None:
    payload = case.payload()
    with pytest.raises(ContractError):
        decode(payload)
    document = json.loads(payload)
    found = {name: problems(name, document) for name in (SCHEMA_FOR_KIND[case.kind], MESSAGE_SCHEMA)}
    if case.not_expressible is None:
        assert all(found.values()), f"the published schema accepts it: {found}"
    else:
        assert not any(found.values()), f"listed as not expressible, but the schema rejects it: {found}"
        listed = _not_expressible_section()
        assert case.not_expressible in listed, f"docs/contract.md does not list '{case.not_expressible}'"
    if case.ajv_accepts is not None:
        assert case.ajv_accepts in _not_expressible_section()


def test_every_listed_limit_has_a_case() -> None:
    listed = re.findall(r"^- (.+?)(?::|$)", _not_expressible_section(), flags=re.MULTILINE)
    covered = {case.not_expressible for case in ALL_CASES}
    assert listed, "no items listed"
    assert {item for item in listed if item not in covered} == set()


@pytest.mark.services  # node runs ajv
def test_ajv_strict_compiles_every_schema_and_agrees(pytestconfig: pytest.Config) -> None:
    folder = install_ajv(pytestconfig.cache)  # type: ignore[arg-type]
    files = sorted(SCHEMA_DIR.glob("*.schema.json"))
    items: list[tuple[str, str]] = []
    expected: list[tuple[str, bool]] = []
    for kind, message in example_messages().items():
        for schema in (SCHEMA_FOR_KIND[kind], MESSAGE_SCHEMA):
            items.append((schema, encode(message).decode()))
            expected.append((f"example {kind} / {schema}", True))
    for case in ALL_CASES:
        for schema in (SCHEMA_FOR_KIND[case.kind], MESSAGE_SCHEMA):
            items.append((schema, case.payload()))
            accepted = case.not_expressible is not None or case.ajv_accepts is not None
            expected.append((f"{case.name} / {schema}", accepted))
    compiled, results = ajv_validate(folder, files, items)
    assert compiled == [f.name for f in files]
    wrong = [
        f"{what}: ajv says {'valid' if r.valid else 'invalid'} {r.errors[:2]}"
        for (what, valid), r in zip(expected, results, strict=True)
        if r.valid != valid
    ]
    assert wrong == []
