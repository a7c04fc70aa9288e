"""The messages gateways and the backend exchange over MQTT (schema version 1).

Both sides import these models, so the contract is written down exactly once; `docs/contract.md`
explains it and `docs/schema/` holds the JSON Schema generated from here.

Message kinds and who sends them::

    Readings        gateway -> {prefix}/{site}/{device}/readings   one device poll, all its channels
    Vehicle         gateway -> {prefix}/{site}/{device}/vehicles   one WIM record or weighbridge weighing
    GatewayStatus   gateway -> {prefix}/{site}/status              retained; also the MQTT Last Will
    DeviceStatus    gateway -> {prefix}/{site}/{device}/status     retained
    RecordReject    gateway -> {prefix}/{site}/{device}/rejects    a sample of frames a record stream refused
    AlertTransition backend -> {prefix}/alerts/{site}/{rule}[/{device}[/{channel}]]   retained, one per alert
    Receipt         backend -> {prefix}/{site}/receipts            what a worker stored of one gateway's
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from pantau.contract.fields import (
    INT64_MAX,
    Count,
    Counter,
    FiniteFloat,
    Label,
    ReadingNumber,
    ReasonCode,
    ShortText,
    Slug,
    Unit,
    UtcDatetime,
)
from pantau.contract.schema_rules import (
    ALERT_RULES,
    GATEWAY_CLOCK_RULES,
    READING_RULES,
    VEHICLE_RULES,
    add_rules,
)

SCHEMA_VERSION: Final = 1
#: Upper bound on channels in one poll: a generous device, not a denial-of-service vector.
MAX_CHANNELS: Final = 256
#: Longest vehicle the contract accepts (road trains have ~12 axles; 20 leaves room for special transport).
MAX_AXLES: Final = 20


class ContractModel(BaseModel):
    """Base of every contract model: immutable, strict about unknown fields and non-finite numbers."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        str_strip_whitespace=False,
        validate_default=True,
        use_enum_values=False,
    )


class Quality(StrEnum):
    """Data quality of one value, QARTOD style (flag numbers in `qartod_flag`)."""

    GOOD = "good"
    SUSPECT = "suspect"
    BAD = "bad"
    MISSING = "missing"
    #: The value is as read, but its time cannot be trusted: the gateway's clock was implausible, or the
    #: time was too far ahead of the message's arrival at the backend. Stored and shown, never used by
    #: rules or `/latest` (docs/contract.md "Time").
    CLOCK_SKEW = "clock_skew"

    @property
    def qartod_flag(self) -> int:
        """The QARTOD primary flag: 1 pass, 3 suspect, 4 fail, 9 missing."""
        return _QARTOD_FLAGS[self]


_QARTOD_FLAGS: Final = {
    Quality.GOOD: 1,
    Quality.SUSPECT: 3,
    Quality.BAD: 4,
    Quality.MISSING: 9,
    Quality.CLOCK_SKEW: 3,  # QARTOD's timing test: the value may be fine, its time is suspect
}


class Reason(StrEnum):
    """Reason codes producers use. The contract accepts any code matching the reason pattern, so a new
    driver can add one without a schema version bump; these are the ones dashboards know by name."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    CRC = "crc"
    FRAMING = "framing"
    NOT_A_NUMBER = "not_a_number"
    OVER_RANGE = "over_range"
    UNDER_RANGE = "under_range"
    OUT_OF_PHYSICAL_RANGE = "out_of_physical_range"
    DEVICE_STATUS = "device_status"
    DEVICE_ERROR = "device_error"
    GROSS_RANGE = "gross_range"
    SPIKE = "spike"
    FLAT_LINE = "flat_line"
    RATE_OF_CHANGE = "rate_of_change"
    CONNECTION_LOST = "connection_lost"
    SHUTDOWN = "shutdown"
    #: A counter channel's first poll since start: an increment needs a previous sample.
    NO_PREVIOUS_SAMPLE = "no_previous_sample"
    #: Quality `clock_skew`, set by the gateway: its wall clock is before the software's release date.
    CLOCK_BEFORE_RELEASE = "clock_before_release"
    #: ... or its wall clock stepped against its monotonic clock by more than the bound, recently.
    CLOCK_STEPPED = "clock_stepped"
    #: ... set by the backend: the message's time is further ahead of its arrival than it allows.
    CLOCK_AHEAD = "clock_ahead"

    @staticmethod
    def modbus_exception(code: int) -> str:
        """`modbus_exception_2` etc.: the Modbus exception code stays visible to the operator."""
        return f"modbus_exception_{code}"


class Reading(ContractModel):
    """One channel's value at poll time, with its quality.

    `value` is numeric for every measurement (enum codes and bits included, so a stored field keeps one type);
    an integer stays an integer, exact up to int64 (a counter past 2**53 would be rounded as a float);
    `text` carries what numbers cannot (a serial number, the name of an enum code).
    """

    model_config = ConfigDict(json_schema_extra=lambda schema: add_rules(schema, READING_RULES))

    value: ReadingNumber | None = None
    text: ShortText | None = None
    unit: Unit | None = None
    quality: Quality = Quality.GOOD
    reason: ReasonCode | None = None
    detail: ShortText | None = None

    @model_validator(mode="after")
    def _quality_is_consistent(self) -> Reading:
        has_payload = self.value is not None or self.text is not None
        if self.quality is Quality.MISSING and has_payload:
            msg = "a 'missing' reading carries no value or text"
            raise ValueError(msg)
        if self.quality in (Quality.GOOD, Quality.SUSPECT) and not has_payload:
            msg = f"a '{self.quality}' reading needs a value or text"
            raise ValueError(msg)
        if self.quality is Quality.GOOD and self.reason is not None:
            msg = "a 'good' reading has no reason"
            raise ValueError(msg)
        if self.quality is not Quality.GOOD and self.reason is None:
            msg = f"a '{self.quality}' reading needs a reason"
            raise ValueError(msg)
        return self

    @classmethod
    def measured(cls, value: float, unit: str | None = None) -> Reading:
        """A measurement as read; NaN and ±inf (channel error, over/under range) become `bad`, number-less."""
        if math.isnan(value):
            return cls(unit=unit, quality=Quality.BAD, reason=Reason.NOT_A_NUMBER)
        if math.isinf(value):
            reason = Reason.OVER_RANGE if value > 0 else Reason.UNDER_RANGE
            return cls(unit=unit, quality=Quality.BAD, reason=reason)
        return cls(value=value, unit=unit)

    @classmethod
    def missing(cls, reason: str, detail: str | None = None, unit: str | None = None) -> Reading:
        """No value this poll (timeout, exception response, CRC error...)."""
        return cls(unit=unit, quality=Quality.MISSING, reason=reason, detail=detail)

    def clock_skewed(self, reason: str, detail: str | None = None) -> Reading:
        """This reading with quality `clock_skew`: the value kept, its time not to be believed. A missing
        reading (nothing to date) or one already marked is returned as it is; a suspect or bad one says
        what it was in `detail`."""
        if self.quality in (Quality.MISSING, Quality.CLOCK_SKEW):
            return self
        if self.quality is not Quality.GOOD:
            was = f"was {self.quality} ({self.reason})"
            detail = f"{detail}; {was}" if detail else was
        return self.model_copy(
            update={
                "quality": Quality.CLOCK_SKEW,
                "reason": reason,
                "detail": detail[:256] if detail else None,
            }
        )


#: Validation context key set by the codec: on the wire, `schema_version` and `kind` must be spelled out
#: (in Python they default, so producers cannot get them wrong).
WIRE_CONTEXT: Final = "pantau_wire"
_REQUIRED_ON_WIRE: Final = ("schema_version", "kind")


def _require_on_wire(schema: JsonDict) -> None:
    required = schema.setdefault("required", [])
    if isinstance(required, list):  # pydantic always emits a list here
        required[:0] = [name for name in _REQUIRED_ON_WIRE if name not in required]


def _message_schema(schema: JsonDict, rules: list[dict[str, object]]) -> None:
    _require_on_wire(schema)
    add_rules(schema, rules)


class _Message(ContractModel):
    model_config = ConfigDict(json_schema_extra=_require_on_wire)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: str
    site: Slug
    ts: UtcDatetime = Field(description="UTC time the data was read (or the event happened), not sent")

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_is_an_integer(cls, value: object) -> object:
        # Literal[1] alone takes `true` and `1.0` (both equal 1); the contract's integers are strict.
        if isinstance(value, bool | float):
            msg = f"must be the integer {SCHEMA_VERSION}, not {json.dumps(value)}"
            raise ValueError(msg)  # noqa: TRY004 - pydantic reports a ValueError as a validation error
        return value

    @model_validator(mode="before")
    @classmethod
    def _envelope_spelled_out(cls, data: object, info: ValidationInfo) -> object:
        if info.context and info.context.get(WIRE_CONTEXT) and isinstance(data, dict):
            absent = [name for name in _REQUIRED_ON_WIRE if name not in data]
            if absent:
                msg = f"missing {', '.join(absent)} (required on the wire)"
                raise ValueError(msg)
        return data


class _GatewayMessage(_Message):
    gateway: Slug
    seq: Count = Field(
        ge=0,
        le=INT64_MAX,
        description="Per-gateway counter, increasing across restarts; gaps reveal lost messages",
    )


class Readings(_GatewayMessage):
    """One poll of one device: every channel it reported, each with its own quality."""

    kind: Literal["readings"] = "readings"
    device: Slug
    channels: Annotated[dict[Slug, Reading], Field(min_length=1, max_length=MAX_CHANNELS)]


class Tyres(StrEnum):
    """Single-tyre axles count as `1`, dual-tyre axles as `2` in the JBI axle-configuration notation."""

    SINGLE = "single"
    DUAL = "dual"


class Axle(ContractModel):
    """One axle, front to back."""

    load_kg: FiniteFloat = Field(ge=0, le=60_000)
    tyres: Tyres | None = None
    spacing_m: FiniteFloat | None = Field(
        default=None, gt=0, le=30, description="Distance to the next axle; absent on the last axle"
    )


class Dimensions(ContractModel):
    """Vehicle dimensions from a laser profiler or the WIM loop layout, in metres."""

    length_m: FiniteFloat | None = Field(default=None, gt=0, le=40)
    width_m: FiniteFloat | None = Field(default=None, gt=0, le=6)
    height_m: FiniteFloat | None = Field(default=None, gt=0, le=8)


class Vehicle(_GatewayMessage):
    """One vehicle over a WIM scale, or one static weighing on a weighbridge.

    `groups` lists how many axles each axle group holds, front to back (a 1-2.2 truck is [1, 2]);
    with `tyres` on every axle it yields the JBI axle configuration (`axle_configuration`).
    """

    model_config = ConfigDict(json_schema_extra=lambda schema: _message_schema(schema, VEHICLE_RULES))

    kind: Literal["vehicle"] = "vehicle"
    device: Slug
    source: Literal["wim", "weighbridge"]
    record_id: Label | None = Field(default=None, description="The controller's own id")
    lane: Count | None = Field(default=None, ge=1, le=16)
    direction: Slug | None = None
    speed_kmh: FiniteFloat | None = Field(default=None, ge=0, le=250)
    gvw_kg: FiniteFloat = Field(ge=0, le=300_000, description="Gross vehicle weight")
    axles: Annotated[list[Axle], Field(max_length=MAX_AXLES)] = []
    groups: list[Annotated[Count, Field(ge=1, le=MAX_AXLES)]] | None = None
    vehicle_class: Label | None = None
    dimensions: Dimensions | None = None
    error_code: Label | None = Field(default=None, description="Controller error, if any")
    quality: Quality = Quality.GOOD
    reason: ReasonCode | None = None

    @model_validator(mode="after")
    def _axles_are_consistent(self) -> Vehicle:
        if self.groups is not None and sum(self.groups) != len(self.axles):
            msg = f"groups {self.groups} hold {sum(self.groups)} axles but {len(self.axles)} axles are listed"
            raise ValueError(msg)
        spacings = [axle.spacing_m for axle in self.axles]
        if spacings and spacings[-1] is not None:
            msg = "the last axle has no spacing (spacing is the distance to the next axle)"
            raise ValueError(msg)
        if any(s is None for s in spacings[:-1]) and any(s is not None for s in spacings[:-1]):
            msg = "axle spacings are given for some axles but not others"
            raise ValueError(msg)
        if self.quality is Quality.MISSING:
            msg = "a vehicle record is either there or not: quality 'missing' is not allowed"
            raise ValueError(msg)
        if (self.quality is Quality.GOOD) != (self.reason is None):
            msg = "a reason is required exactly when quality is not 'good'"
            raise ValueError(msg)
        return self

    @property
    def axle_configuration(self) -> str | None:
        """JBI notation such as `1-2.2`: `-` between groups, `.` within a group; None when unknown."""
        if self.groups is None or not self.axles or any(axle.tyres is None for axle in self.axles):
            return None
        digits = ["1" if axle.tyres is Tyres.SINGLE else "2" for axle in self.axles]
        parts, start = [], 0
        for size in self.groups:
            parts.append(".".join(digits[start : start + size]))
            start += size
        return "-".join(parts)


class OutboxStats(ContractModel):
    """The gateway's store-and-forward queue, so operators see a backlog before it overflows."""

    depth: Counter
    oldest_ts: UtcDatetime | None = None
    dropped_total: Counter = Field(
        default=0, description="Messages dropped by quota/age, or dead letters dropped by hand, since install"
    )
    dead_letters: Counter = Field(
        default=0,
        description="Messages the broker refused too often, held apart until re-queued or dropped by hand",
    )
    dead_lettered_total: Counter = Field(
        default=0, description="Messages moved to the dead letters since install"
    )
    awaiting_receipt: Counter = Field(
        default=0,
        description="Messages the broker acknowledged that the backend has not yet confirmed storing "
        "(kept on the gateway until it does: end-to-end acknowledgement)",
    )
    unreceipted_total: Counter = Field(
        default=0,
        description="Messages the broker acknowledged that were let go without the backend's receipt "
        "(receipt window passed, quota reached, or resent too often) since install",
    )


class GatewayClock(ContractModel):
    """The gateway's verdict on its own wall clock. While it is implausible, every reading and vehicle it
    stamps carries quality `clock_skew` with the same reason."""

    model_config = ConfigDict(json_schema_extra=lambda schema: add_rules(schema, GATEWAY_CLOCK_RULES))

    plausible: StrictBool  # `"true"` or `1` is a producer bug, as for numbers
    reason: ReasonCode | None = Field(
        default=None, description="clock_before_release or clock_stepped; absent when plausible"
    )
    not_before: UtcDatetime = Field(
        description="The software's release date: a wall clock before it is wrong"
    )
    step_s: FiniteFloat | None = Field(
        default=None,
        description="The last step of wall time against monotonic time beyond the bound (s, + ahead)",
    )
    stepped_at: UtcDatetime | None = Field(default=None, description="When that step was noticed")

    @model_validator(mode="after")
    def _reason_when_implausible(self) -> GatewayClock:
        if self.plausible == (self.reason is not None):
            msg = "a clock has a reason exactly when it is not plausible"
            raise ValueError(msg)
        return self


class GatewayStatus(_GatewayMessage):
    """Retained gateway state. The gateway's MQTT Last Will is one of these with state `offline`,
    prepared at connect time with its own sequence number."""

    kind: Literal["gateway_status"] = "gateway_status"
    state: Literal["online", "offline"]
    reason: ReasonCode | None = None
    software_version: Label | None = None
    started_at: UtcDatetime | None = None
    outbox: OutboxStats | None = None
    clock: GatewayClock | None = None


class DeviceStatus(_GatewayMessage):
    """Retained communication health of one device, published when it changes."""

    kind: Literal["device_status"] = "device_status"
    device: Slug
    state: Literal["ok", "degraded", "failing", "disabled"]
    since: UtcDatetime = Field(description="When the device entered this state")
    last_success: UtcDatetime | None = None
    consecutive_failures: Counter = 0
    reason: ReasonCode | None = None
    detail: ShortText | None = None
    requests_total: Counter = 0
    errors_total: Counter = 0
    discarded_replies_total: Counter = Field(
        default=0,
        description=(
            "Modbus RTU: replies from this device that arrived when none of its requests was waiting "
            "(later than the timeout), thrown away undecoded"
        ),
    )
    latency_ms: FiniteFloat | None = Field(default=None, ge=0)
    rejected_total: Counter | None = Field(
        default=None,
        description=(
            "Record streams only: frames the driver refused (checksum, framing, a field that does not "
            "parse) since the gateway started; samples go to the backend as record_reject messages"
        ),
    )


#: A raw frame excerpt as text: printable ASCII, every other byte as `\xNN` (and `\\` for a backslash),
#: so the exact bytes survive JSON and a terminal; the gateway keeps the first 200 bytes of a frame.
FrameExcerpt = Annotated[str, StringConstraints(max_length=800, pattern=r"^[\x20-\x7e]*$")]


class RecordReject(_GatewayMessage):
    """A sample of the frames a record stream (WIM controller, weighbridge indicator) refused.

    The gateway counts every reject (`DeviceStatus.rejected_total`) but samples only the first of each kind
    (reason and field) and then at most one per kind per interval, so a babbling line cannot flood the
    backend; `unsampled` counts the rejects of the same kind since the previous sample that were not sent.
    The backend keeps these in its dead-letter store (reason `record_reject`), next to the messages it
    refused itself.
    """

    kind: Literal["record_reject"] = "record_reject"
    device: Slug
    reason: ReasonCode = Field(
        description="checksum, framing (oversize, no end marker), bad_record (the record's shape), "
        "bad_field (one field's value), bad_sample (a weight-stream frame)"
    )
    field: Label | None = Field(default=None, description="The field that failed, e.g. gvw, axle_weight[2]")
    problem: ShortText = Field(description="What is wrong, naming the field and the value")
    excerpt: FrameExcerpt = Field(description="The frame's first bytes, non-printable ones as \\xNN")
    frame_bytes: Counter = Field(description="The whole frame's length in bytes")
    unsampled: Counter = Field(
        default=0,
        description="Rejects of this reason and field since the previous sample that were not sent",
    )


class Acknowledgement(ContractModel):
    """An operator took ownership of an alert. Two names, both kept for the audit trail: `by`, who the
    caller says acted (an operator at a shared console), and `key`, the API key that was authenticated."""

    by: Label = Field(description="Who acted, as the caller states it (the key's name when not stated)")
    at: UtcDatetime
    note: ShortText | None = None
    key: Label | None = Field(
        default=None, description="The name of the API key that recorded the acknowledgement"
    )


AlertState = Literal["pending", "firing", "resolved"]


class AlertTransition(_Message):
    """One change of an alert's state or level, published by the backend.

    Alerts come from the backend, not a gateway: `source` names the backend worker and `seq` counts the
    transitions of this alert, so a consumer can tell a newer transition from a replayed older one.
    """

    model_config = ConfigDict(json_schema_extra=lambda schema: _message_schema(schema, ALERT_RULES))

    kind: Literal["alert"] = "alert"
    source: Slug
    seq: Count = Field(ge=0, le=INT64_MAX)
    alert_id: Label
    rule: Slug
    device: Slug | None = None
    channel: Slug | None = None
    state: AlertState
    previous_state: AlertState | None = None
    level: Label | None = Field(default=None, description="e.g. 'Siaga II'")
    severity: Count = Field(default=0, ge=0, le=10, description="0 = normal; higher is worse")
    previous_level: Label | None = None
    value: FiniteFloat | None = None
    threshold: FiniteFloat | None = None
    unit: Unit | None = None
    message: ShortText
    started_at: UtcDatetime
    acknowledgement: Acknowledgement | None = None

    @model_validator(mode="after")
    def _channel_has_a_device(self) -> AlertTransition:
        if self.channel is not None and self.device is None:
            msg = "an alert on a channel names its device too (the topic is .../{rule}/{device}/{channel})"
            raise ValueError(msg)
        return self


#: Sequence-number ranges one receipt may carry (a batch of 2,000 messages of one gateway is one range
#: unless some of them went to another worker).
MAX_RECEIPT_RANGES: Final = 1000


class SeqRange(ContractModel):
    """Sequence numbers `first` to `last`, both included (`first <= last`: a rule JSON Schema cannot
    express, listed in docs/contract.md)."""

    first: Count = Field(ge=0, le=INT64_MAX)
    last: Count = Field(ge=0, le=INT64_MAX)

    @model_validator(mode="after")
    def _in_order(self) -> SeqRange:
        if self.last < self.first:
            msg = f"a range ends before it starts ({self.first}..{self.last})"
            raise ValueError(msg)
        return self


class Receipt(_Message):
    """A backend worker's statement that it durably took these messages of one gateway (stored them, or
    dead-lettered them with the reason): the end-to-end acknowledgement. A broker's PUBACK only says the
    broker has a message; a broker that crashes before it saved or delivered it loses it, so a gateway keeps
    every message until a receipt names it, and sends again what later receipts show was skipped.

    Not retained: each receipt matters once. `source` names the worker; with several workers on a shared
    subscription each confirms what it took, so a gateway collects receipts from all of them."""

    kind: Literal["receipt"] = "receipt"
    gateway: Slug
    source: Slug
    seqs: Annotated[list[SeqRange], Field(min_length=1, max_length=MAX_RECEIPT_RANGES)]


Message = Annotated[
    Readings | Vehicle | GatewayStatus | DeviceStatus | RecordReject | AlertTransition | Receipt,
    Field(discriminator="kind"),
]
MESSAGE_TYPES: Final = (
    Readings,
    Vehicle,
    GatewayStatus,
    DeviceStatus,
    RecordReject,
    AlertTransition,
    Receipt,
)
