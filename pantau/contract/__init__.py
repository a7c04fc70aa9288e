"""The wire contract between gateways and the backend: messages, topics, codec.

Import from here; the submodules are an implementation detail::

    from pantau.contract import Readings, Reading, Topics, encode, decode

The face is lazy (pantau.face): a name imports its module when first used, so the site and profile
models, which import `pantau.contract.fields` for the shared field types, do not build every message
model through this file.
"""

from typing import TYPE_CHECKING, Final

from pantau.face import lazy_face

if TYPE_CHECKING:
    from pantau.contract.codec import MAX_PAYLOAD_BYTES, check_topic, decode, encode
    from pantau.contract.errors import (
        ContractError,
        InvalidJson,
        InvalidMessage,
        PayloadTooLarge,
        TopicError,
        TopicMismatch,
        UnsupportedSchema,
    )
    from pantau.contract.fields import format_utc
    from pantau.contract.messages import (
        MESSAGE_TYPES,
        SCHEMA_VERSION,
        Acknowledgement,
        AlertTransition,
        Axle,
        DeviceStatus,
        Dimensions,
        GatewayClock,
        GatewayStatus,
        Message,
        OutboxStats,
        Quality,
        Reading,
        Readings,
        Reason,
        Receipt,
        RecordReject,
        SeqRange,
        Tyres,
        Vehicle,
    )
    from pantau.contract.topics import DEFAULT_PREFIX, TopicKind, TopicRef, Topics, check_id

__all__ = [
    "DEFAULT_PREFIX",
    "MAX_PAYLOAD_BYTES",
    "MESSAGE_TYPES",
    "SCHEMA_VERSION",
    "Acknowledgement",
    "AlertTransition",
    "Axle",
    "ContractError",
    "DeviceStatus",
    "Dimensions",
    "GatewayClock",
    "GatewayStatus",
    "InvalidJson",
    "InvalidMessage",
    "Message",
    "OutboxStats",
    "PayloadTooLarge",
    "Quality",
    "Reading",
    "Readings",
    "Reason",
    "Receipt",
    "RecordReject",
    "SeqRange",
    "TopicError",
    "TopicKind",
    "TopicMismatch",
    "TopicRef",
    "Topics",
    "Tyres",
    "UnsupportedSchema",
    "Vehicle",
    "check_id",
    "check_topic",
    "decode",
    "encode",
    "format_utc",
]

#: Where each name of the face lives (module of this package -> its names).
_HOMES: Final = {
    "codec": ("MAX_PAYLOAD_BYTES", "check_topic", "decode", "encode"),
    "errors": (
        "ContractError",
        "InvalidJson",
        "InvalidMessage",
        "PayloadTooLarge",
        "TopicError",
        "TopicMismatch",
        "UnsupportedSchema",
    ),
    "fields": ("format_utc",),
    "messages": (
        "MESSAGE_TYPES",
        "SCHEMA_VERSION",
        "Acknowledgement",
        "AlertTransition",
        "Axle",
        "DeviceStatus",
        "Dimensions",
        "GatewayClock",
        "GatewayStatus",
        "Message",
        "OutboxStats",
        "Quality",
        "Reading",
        "Readings",
        "Reason",
        "Receipt",
        "RecordReject",
        "SeqRange",
        "Tyres",
        "Vehicle",
    ),
    "topics": ("DEFAULT_PREFIX", "TopicKind", "TopicRef", "Topics", "check_id"),
}

if not TYPE_CHECKING:
    __getattr__ = lazy_face(__name__, _HOMES)
