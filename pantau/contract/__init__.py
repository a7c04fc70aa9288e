"""The wire contract between gateways and the backend: messages, topics, codec.

Import from here; the submodules are an implementation detail::

    from pantau.contract import Readings, Reading, Topics, encode, decode
"""

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
    RecordReject,
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
    "RecordReject",
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
