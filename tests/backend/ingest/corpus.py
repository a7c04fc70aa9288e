"""The malformed-payload corpus (cases/malformed.yaml) as (name, topic suffix, payload bytes, reason)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CASES = Path(__file__).parent / "cases" / "malformed.yaml"


@dataclass(frozen=True)
class Malformed:
    name: str
    topic: str
    payload: bytes
    reason: str


def malformed_corpus() -> list[Malformed]:
    cases = []
    for case in yaml.safe_load(CASES.read_text(encoding="utf-8")):
        if "payload_hex" in case:
            payload = bytes.fromhex(case["payload_hex"])
        elif "oversize" in case:
            head = b'{"schema_version":1,"kind":"readings","padding":"'
            payload = head + b"x" * (case["oversize"] - len(head) - 2) + b'"}'
        else:
            payload = case["payload"].encode()
        cases.append(Malformed(case["name"], case["topic"], payload, case["reason"]))
    return cases
