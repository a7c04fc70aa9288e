"""Errors of the wire contract. Each carries a machine-readable `reason` for the dead-letter store.

ContractError
 ├── TopicError              topic or id outside the layout (also raised when building topics)
 ├── PayloadTooLarge         payload over the size limit, rejected before parsing
 ├── InvalidJson             not UTF-8 JSON, or not a JSON object
 ├── UnsupportedSchema       schema_version this build does not speak
 ├── InvalidMessage          JSON that fails the models; `problems` lists (field path, message)
 └── TopicMismatch           valid message on the wrong topic (other site/device/kind)
"""

from __future__ import annotations


class ContractError(ValueError):
    """A message or topic that does not follow the contract."""

    reason = "contract"


class TopicError(ContractError):
    reason = "bad_topic"


class PayloadTooLarge(ContractError):
    reason = "oversize"


class InvalidJson(ContractError):
    reason = "bad_json"


class UnsupportedSchema(ContractError):
    reason = "schema_version"


class InvalidMessage(ContractError):
    reason = "invalid"

    def __init__(self, message: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.problems = problems


class TopicMismatch(ContractError):
    reason = "topic_mismatch"
