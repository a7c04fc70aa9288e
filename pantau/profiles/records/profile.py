"""Record-stream profiles: how one WIM controller or weighbridge indicator frames, checks and lays out its
ASCII output, as configuration.

A profile has five parts, each answering one question:

    framing    where a record starts and ends (a delimiter such as CR LF, or STX ... ETX)
    checksum   whether a checksum follows the payload, which one and where
    format     where each value sits in the record (delimited fields, fixed columns or a regex),
               or a weight stream pattern for weighbridge indicators
    values     what the printed values mean (units, timestamp format, code tables)
    weighing   for weight streams: when a platform counts as empty and a weight as stable

Field names are the contract's (see `RECORD_FIELDS`); a name starting with `_` marks a field that is read
past and ignored, so a typo such as `gwv` is an error rather than a silently ignored column.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from pantau.config import Duration
from pantau.contract.fields import Slug
from pantau.contract.messages import Tyres
from pantau.profiles.base import ProfileHeader, ProfileModel, SerialSettings
from pantau.profiles.records.layouts import (
    AXLE_FIELDS,
    DelimitedLayout,
    FixedLayout,
    RecordLayout,
    RegexLayout,
    WeightStreamLayout,
)
from pantau.profiles.records.quantities import LengthUnit, MassUnit, SpeedUnit
from pantau.profiles.records.text_escapes import decode_escapes
from pantau.profiles.records.vehicle_classes import ClassMap

__all__ = [
    "AXLE_FIELDS",
    "ChecksumSpec",
    "DelimitedLayout",
    "DelimiterFraming",
    "EpochTimestamps",
    "FixedLayout",
    "RecordExample",
    "RecordLayout",
    "RecordProfile",
    "RegexLayout",
    "SerialSettings",
    "StxEtxFraming",
    "TextEncoding",
    "TextTimestamps",
    "Units",
    "ValueMapping",
    "WeighingSettings",
    "WeightStreamLayout",
]

#: Longest frame any profile may declare: a 20-axle record is a few hundred characters.
MAX_FRAME_LENGTH: Final = 8192


def _marker_bytes(value: object) -> object:
    """YAML `"\\r\\n"`, `'\\x02'` (escapes decoded here) or `2` (one byte) -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 255:
            raise ValueError(f"byte value {value} is outside 0..255")
        return bytes([value])
    if isinstance(value, str):
        text = decode_escapes(value)
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{value!r} has characters beyond one byte each") from exc
    return value


#: Bytes written as text with escapes (`"\r\n"`, `"\x02"`) or as one integer byte value.
MarkerBytes = Annotated[bytes, BeforeValidator(_marker_bytes), Field(min_length=1, max_length=8)]


class DelimiterFraming(ProfileModel):
    """`kind: lines`: a record ends at `delimiter` (CR LF for most controllers); empty records are skipped."""

    kind: Literal["lines"]
    delimiter: MarkerBytes = b"\r\n"
    max_length: int = Field(default=512, ge=1, le=MAX_FRAME_LENGTH, description="Longest payload, bytes")


class StxEtxFraming(ProfileModel):
    """`kind: stx_etx`: a record sits between a start and an end marker; bytes between records are skipped."""

    kind: Literal["stx_etx"]
    start: MarkerBytes = b"\x02"
    end: MarkerBytes = b"\x03"
    max_length: int = Field(default=512, ge=1, le=MAX_FRAME_LENGTH, description="Longest payload, bytes")

    @model_validator(mode="after")
    def _markers_differ(self) -> StxEtxFraming:
        if self.start == self.end:
            raise ValueError("start and end markers must differ, or a frame's end reads as the next start")
        return self


Framing = Annotated[DelimiterFraming | StxEtxFraming, Field(discriminator="kind")]


class ChecksumSpec(ProfileModel):
    """A checksum printed as two hex characters at the end of the payload.

    `xor8` XORs the covered bytes, `sum8` adds them modulo 256. `position: suffix` puts the checksum after
    `separator` (e.g. `*`, or nothing); `position: field` makes it the last field of a delimited format.
    The checksum covers the payload before the separator, plus the separator when `covers_separator`.
    """

    algorithm: Literal["xor8", "sum8"]
    position: Literal["suffix", "field"] = "suffix"
    separator: Annotated[str, AfterValidator(decode_escapes)] = ""
    covers_separator: bool = False

    @model_validator(mode="after")
    def _separator_matches_position(self) -> ChecksumSpec:
        if self.position == "field" and self.separator:
            raise ValueError("position 'field' uses the format's field separator; leave `separator` unset")
        return self


_OFFSET = re.compile(r"(?P<sign>[+-])(?P<hours>\d{2}):(?P<minutes>\d{2})")


def parse_utc_offset(text: str) -> timezone:
    """`+08:00` -> a fixed-offset timezone; ValueError for anything else."""
    match = _OFFSET.fullmatch(text)
    if match is None or int(match["hours"]) > 14 or int(match["minutes"]) > 59:
        raise ValueError(f"utc_offset {text!r} is not like '+08:00' (WITA) or '-03:30'")
    offset = timedelta(hours=int(match["hours"]), minutes=int(match["minutes"]))
    return timezone(-offset if match["sign"] == "-" else offset) if offset else UTC


def _check_offset(text: str) -> str:
    parse_utc_offset(text)
    return text


class TextTimestamps(ProfileModel):
    """Timestamps printed as text, read with a strptime `format` (`%Y-%m-%d %H:%M:%S.%f`).

    With separate `date` and `time` fields the format covers both, joined by one space. Controllers print
    local time: `utc_offset` converts it (Indonesia has no daylight saving, so a fixed offset is exact).
    """

    kind: Literal["text"]
    format: str = Field(min_length=2, max_length=64)
    fraction_digits: int = Field(
        default=6, ge=1, le=6, description="Digits `%f` prints when writing (2 = centiseconds)"
    )
    utc_offset: Annotated[str, AfterValidator(_check_offset)] = "+00:00"

    @model_validator(mode="after")
    def _format_reads_back(self) -> TextTimestamps:
        if "%z" in self.format or "%Z" in self.format:
            raise ValueError("format: give the zone as utc_offset, not %z/%Z")
        sample = datetime(2026, 11, 28, 6, 4, 17, 250000)  # noqa: DTZ001 (a naive wall-clock sample)
        text = self.format.replace("%f", f"{sample.microsecond:06d}"[: self.fraction_digits])
        try:
            parsed = datetime.strptime(sample.strftime(text), self.format)  # noqa: DTZ007 (offset added later)
        except ValueError as exc:
            raise ValueError(f"format {self.format!r} cannot read back what it writes: {exc}") from exc
        if parsed.date() != sample.date():
            raise ValueError(f"format {self.format!r} does not hold a full date (needs %Y or %y, %m, %d)")
        return self

    @property
    def zone(self) -> timezone:
        """The controller clock's fixed offset from UTC."""
        return parse_utc_offset(self.utc_offset)


class EpochTimestamps(ProfileModel):
    """Timestamps printed as a count since 1970-01-01 UTC in seconds, milliseconds or centiseconds."""

    kind: Literal["epoch"]
    unit: Literal["s", "ms", "cs"]


Timestamps = Annotated[TextTimestamps | EpochTimestamps, Field(discriminator="kind")]

UnitField = Literal["gvw", "axle_load", "speed", "spacing", "dimensions"]


class Units(ProfileModel):
    """Units of the printed numbers (`kg`, `10kg`, `t`, `0.1km/h`, `cm`, ...) and, for writing them back
    (simulators), how many decimal places each gets; reading accepts any number of decimals."""

    gvw: MassUnit = "kg"
    axle_load: MassUnit = "kg"
    speed: SpeedUnit = "km/h"
    spacing: LengthUnit = "m"
    dimensions: LengthUnit = "m"
    decimals: dict[UnitField, Annotated[int, Field(ge=0, le=6)]] = Field(default={})


class ValueMapping(ProfileModel):
    """What the printed values mean."""

    units: Units = Units()
    timestamps: Timestamps | None = Field(
        default=None, description="Required when the format has ts or date/time fields"
    )
    directions: dict[str, Slug] = Field(
        default={},
        description="Printed direction code -> direction slug; unmapped codes are used lower-cased",
    )
    tyres: dict[str, Tyres] = Field(default={}, description="Printed tyre code -> single/dual (axle_tyres)")
    no_error: list[str] = Field(default=["0"], description="error_code values that mean 'no error'")
    absent: list[str] = Field(
        default=[""], description="Printed values meaning 'not measured' for optional fields"
    )
    group_spacing_max_m: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="Derive axle groups: axles closer than this belong to one group (unverified figure)",
    )
    gvw_tolerance_pct: float | None = Field(
        default=5.0,
        gt=0,
        le=100,
        description="A printed GVW this far from the sum of the axle loads makes the record suspect "
        "(a mis-configured layout or a failing sensor); null: not checked",
    )
    classes: ClassMap = Field(
        default={},
        description="The controller's class code -> JBI axle configuration (gives groups and tyres)",
    )

    @model_validator(mode="after")
    def _codes_are_clean(self) -> ValueMapping:
        for table in ("directions", "tyres"):
            codes: dict[str, Any] = getattr(self, table)
            padded = [code for code in codes if code != code.strip() or not code]
            if padded:
                raise ValueError(f"{table}: codes are compared stripped; {padded!r} can never match")
        return self


class WeighingSettings(ProfileModel):
    """When a weight stream makes one weighing (see weighbridge.py for the state machine)."""

    empty_threshold_kg: float = Field(gt=0, description="At or below this the platform counts as empty")
    stable_samples: int = Field(default=5, ge=1, le=10_000, description="Consecutive still samples needed")
    stable_time: Duration = Field(default=timedelta(0), description="...spanning at least this long")
    stable_tolerance_kg: float = Field(
        default=0, ge=0, description="Still samples may differ by this much (one graduation is typical)"
    )
    # Three samples (0.3 s at 10 Hz) so one noisy sample near the threshold does not split a weighing.
    empty_samples: int = Field(default=3, ge=1, le=1000, description="Consecutive empty samples to end")

    @model_validator(mode="after")
    def _time_not_negative(self) -> WeighingSettings:
        if self.stable_time < timedelta(0):
            raise ValueError("stable_time cannot be negative")
        return self


#: Text encodings controllers print in; ascii rejects any byte above 0x7F (line noise, a wrong baud rate).
TextEncoding = Literal["ascii", "latin-1", "cp1252", "utf-8"]


class RecordExample(ProfileModel):
    """A sample frame from the real device with what it must parse to, run by `pantau profile check`.

    `frame` is the record as printed between the framing markers (checksum included; escapes such as
    `\x02` decoded). `expect` lists record fields as in the contract's Vehicle (`gvw_kg`, `axles`, ...;
    for a weight stream `weight_kg` and `status`); only the fields listed are compared. `reject` instead
    names the field the parser must blame (a record of another type, a bad checksum).
    """

    frame: Annotated[str, AfterValidator(decode_escapes), Field(min_length=1, max_length=MAX_FRAME_LENGTH)]
    expect: dict[str, Any] | None = Field(default=None, min_length=1)
    reject: str | None = Field(default=None, min_length=1, max_length=60)
    note: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_outcome(self) -> RecordExample:
        if (self.expect is None) == (self.reject is None):
            raise ValueError(
                "an example has either `expect` (the parsed record) or `reject` (the field blamed)"
            )
        return self


class RecordProfile(ProfileHeader):
    """A line-oriented record stream: a WIM controller's vehicle records or a weighbridge weight stream."""

    protocol: Literal["records"]
    source: Literal["wim", "weighbridge"]
    serial: SerialSettings = SerialSettings()
    encoding: TextEncoding = Field(default="ascii", description="How the device prints text")
    framing: Framing
    checksum: ChecksumSpec | None = None
    format: RecordLayout
    values: ValueMapping = ValueMapping()
    weighing: WeighingSettings | None = None
    silence_timeout: Duration | None = Field(
        default=None,
        description="No bytes for this long means a dead link (reconnect); for continuous streams only",
    )
    examples: list[RecordExample] = Field(
        default=[],
        max_length=100,
        description="Sample frames with their expected parse; a profile file needs at least one",
    )

    @model_validator(mode="after")
    def _parts_fit_together(self) -> RecordProfile:
        is_stream = isinstance(self.format, WeightStreamLayout)
        if is_stream and self.source != "weighbridge":
            raise ValueError(
                "format 'weight_stream' is a weighbridge indicator's output: source: weighbridge"
            )
        if is_stream != (self.weighing is not None):
            raise ValueError("a `weighing` section goes with format kind 'weight_stream', and only with it")
        if (
            self.checksum
            and self.checksum.position == "field"
            and not isinstance(self.format, DelimitedLayout)
        ):
            raise ValueError("checksum position 'field' needs a delimited format")
        if self.silence_timeout is not None and self.silence_timeout <= timedelta(0):
            raise ValueError("silence_timeout must be positive")
        if not is_stream:
            self._check_record_fields(self.format.field_names())
        return self

    def _check_record_fields(self, names: set[str]) -> None:
        if ("date" in names) != ("time" in names):
            raise ValueError("format: `date` and `time` go together (or use one `ts` field)")
        if "ts" in names and "date" in names:
            raise ValueError("format: use either `ts` or `date` + `time`, not both")
        has_time = bool(names & {"ts", "date"})
        if has_time != (self.values.timestamps is not None):
            raise ValueError("values.timestamps is required with ts/date/time fields, and only with them")
        if "gvw" not in names and "axle_weight" not in names:
            raise ValueError("format: a record needs `gvw` or per-axle `axle_weight` (GVW is their sum)")
        if "axle_tyres" in names and not self.values.tyres:
            raise ValueError("values.tyres must map the printed tyre codes when the format has axle_tyres")
        if self.values.group_spacing_max_m is not None and "axle_spacing" not in names:
            raise ValueError("values.group_spacing_max_m needs axle spacings in the format")
        if self.values.classes and not {"vehicle_class", "axle_weight"} <= names:
            raise ValueError("values.classes needs vehicle_class and per-axle axle_weight in the format")
