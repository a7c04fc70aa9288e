"""docs/contract.md shows real messages: every JSON example in it must validate, and every kind is shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pantau.contract import Reason, decode, encode
from pantau.contract.examples import example_messages

CONTRACT_DOC = Path(__file__).resolve().parents[3] / "docs" / "contract.md"


def _json_blocks() -> list[str]:
    return re.findall(r"```json\n(.*?)\n```", CONTRACT_DOC.read_text(), flags=re.DOTALL)


def test_every_json_example_in_the_contract_doc_validates() -> None:
    blocks = _json_blocks()
    assert blocks, "docs/contract.md has no ```json examples"
    kinds = {decode(block).kind for block in blocks}
    assert kinds == set(example_messages())


def test_doc_examples_are_the_current_examples() -> None:
    shown = {json.loads(block)["kind"]: json.loads(block) for block in _json_blocks()}
    for kind, message in example_messages().items():
        assert shown[kind] == json.loads(encode(message)), (
            f"regenerate the {kind} example in docs/contract.md"
        )


def test_every_reason_code_is_documented() -> None:
    """The codes `pantau.contract.Reason` names are the documented list of codes in use (issue 20: the
    counters' `no_previous_sample` was sent but not listed)."""
    text = CONTRACT_DOC.read_text()
    listed = text.split("Codes in use:", 1)[1].split("New codes need no schema change", 1)[0]
    codes = set(re.findall(r"`([a-z][a-z0-9_]*)`", listed))
    assert {reason.value for reason in Reason} - codes == set()
    assert "modbus_exception_<n>" in listed  # Reason.modbus_exception(code)
