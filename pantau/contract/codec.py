"""Encode messages to MQTT payloads and decode payloads back, with errors people can act on.

Decoding is the backend's front door: it rejects oversize payloads before parsing, tells a wrong schema
version apart from a malformed message, and checks the message against the topic it arrived on.
"""

from __future__ import annotations

import functools
import json
from typing import Final

from pydantic import TypeAdapter, ValidationError

from pantau.contract.errors import (
    InvalidJson,
    InvalidMessage,
    PayloadTooLarge,
    TopicMismatch,
    UnsupportedSchema,
)
from pantau.contract.messages import SCHEMA_VERSION, WIRE_CONTEXT, AlertTransition, Message
from pantau.contract.topics import MESSAGE_KIND_FOR_TOPIC, TopicRef, Topics

#: A readings message with 256 channels is ~40 KiB; anything near this limit is a bug or an attack.
MAX_PAYLOAD_BYTES: Final = 256 * 1024
_MESSAGE: Final[TypeAdapter[Message]] = TypeAdapter(Message)
_MAX_PROBLEMS_SHOWN: Final = 5


def encode(message: Message) -> bytes:
    """Compact UTF-8 JSON; absent optional fields are left out rather than sent as null."""
    return message.model_dump_json(exclude_none=True).encode()


def decode(
    payload: bytes | str,
    *,
    topic: str | None = None,
    topics: Topics | None = None,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Message:
    """Validate a payload (and, given `topic`, that it belongs on that topic) into a message.

    Raises a ContractError subclass whose message names the topic and the offending field.
    """
    where = f" on {topic}" if topic else ""
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > max_bytes:
        raise PayloadTooLarge(f"payload{where} is {size} bytes, over the {max_bytes}-byte limit")
    try:
        message = _MESSAGE.validate_json(payload, context={WIRE_CONTEXT: True})
    except ValidationError as exc:
        raise _explain(exc, payload, where) from exc
    if topic is not None:
        check_topic(message, topic, topics or Topics())
    return message


def check_topic(message: Message, topic: str, topics: Topics) -> None:
    """Raise TopicMismatch unless `message` is the kind of message `topic` carries, for the same ids."""
    ref = _parse(topics, topic)
    expected_kind = MESSAGE_KIND_FOR_TOPIC[ref.kind]
    if message.kind != expected_kind:
        raise TopicMismatch(f"{topic} carries '{expected_kind}' messages, got '{message.kind}'")
    if message.site != ref.site:
        raise TopicMismatch(f"{topic} is for site '{ref.site}' but the message says site '{message.site}'")
    if isinstance(message, AlertTransition):  # one topic per alert: rule, device and channel all match
        named = (message.rule, message.device, message.channel)
        if named != (ref.rule, ref.device, ref.channel):
            raise TopicMismatch(
                f"{topic} is for alert (rule, device, channel) {(ref.rule, ref.device, ref.channel)} "
                f"but the message says {named}"
            )
        return
    device = getattr(message, "device", None)
    if ref.device is not None and device != ref.device:
        raise TopicMismatch(f"{topic} is for device '{ref.device}' but the message says device '{device}'")


# A worker sees the same few thousand topics over and over (bounded by the inventory): parse each once.
# Only valid topics are cached (a TopicError is raised again, every time).
@functools.lru_cache(maxsize=65_536)
def _parse(topics: Topics, topic: str) -> TopicRef:
    return topics.parse(topic)


def _explain(
    exc: ValidationError, payload: bytes | str, where: str
) -> InvalidJson | UnsupportedSchema | InvalidMessage:
    errors = exc.errors(include_url=False, include_context=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return InvalidJson(f"payload{where} is not valid JSON: {errors[0]['msg']}")
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as json_exc:  # pydantic accepted what json rejects: be plain
        return InvalidJson(f"payload{where} is not valid JSON: {json_exc}")
    if not isinstance(document, dict):
        return InvalidJson(f"payload{where} is JSON but not an object")
    version = document.get("schema_version")
    if version is not None and version != SCHEMA_VERSION:
        return UnsupportedSchema(
            f"payload{where} has schema_version {version!r}; this build speaks {SCHEMA_VERSION}"
        )
    problems = [(_path(error["loc"], document), _plain(error["msg"])) for error in errors]
    shown = "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems[:_MAX_PROBLEMS_SHOWN])
    more = f" (and {len(problems) - _MAX_PROBLEMS_SHOWN} more)" if len(problems) > _MAX_PROBLEMS_SHOWN else ""
    kind = document.get("kind")
    what = f"'{kind}' message" if isinstance(kind, str) else "message"
    return InvalidMessage(f"invalid {what}{where}: {shown}{more}", problems)


def _path(loc: tuple[int | str, ...], document: dict[str, object]) -> str:
    # The first location level of a discriminated union is the tag (e.g. 'readings'): not a field.
    parts = list(loc)
    if parts and parts[0] == document.get("kind") and parts[0] not in document:
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _plain(message: str) -> str:
    # pydantic prefixes our own validator messages with "Value error, ": noise for a technician.
    return message.removeprefix("Value error, ")
