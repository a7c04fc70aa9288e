"""docs/schema/ is generated from the models and must never fall behind them."""

from __future__ import annotations

import json
from pathlib import Path

from pantau.contract.schema import schema_documents, stale_schemas, write_schemas

REPO = Path(__file__).resolve().parents[3]
SCHEMA_DIR = REPO / "docs" / "schema"


def test_committed_schemas_are_current() -> None:
    stale = stale_schemas(SCHEMA_DIR)
    assert not stale, f"stale files in docs/schema: {stale}; run `make schema` and commit the result"


def test_staleness_is_detected(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    assert stale_schemas(tmp_path) == []
    (tmp_path / "readings.schema.json").write_text("{}\n")
    (tmp_path / "old.schema.json").write_text("{}\n")
    (tmp_path / "vehicle.schema.json").unlink()
    assert stale_schemas(tmp_path) == ["old.schema.json", "readings.schema.json", "vehicle.schema.json"]


def test_schemas_require_the_envelope_and_forbid_unknown_fields() -> None:
    for name, document in schema_documents().items():
        if name == "message.schema.json":
            # A plain oneOf: each branch's `kind` is a const (OpenAPI's `discriminator` is not JSON Schema)
            assert "discriminator" not in document
            kinds = [document["$defs"][ref["$ref"].rsplit("/", 1)[1]]["properties"]["kind"]["const"]
                     for ref in document["oneOf"]]  # fmt: skip
            assert sorted(kinds) == [
                "alert", "device_status", "gateway_status", "readings", "receipt", "record_reject",
                "vehicle",
            ]  # fmt: skip
            continue
        assert document["required"][:2] == ["schema_version", "kind"], name
        assert document["additionalProperties"] is False, name
        assert document["properties"]["schema_version"]["const"] == 1


def test_schema_files_are_valid_json_with_ids() -> None:
    for path in SCHEMA_DIR.glob("*.schema.json"):
        document = json.loads(path.read_text())
        assert document["$id"].endswith(path.name)
