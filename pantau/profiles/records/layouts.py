"""Where values sit in a record: the `format:` section of a record profile.

Three layouts for per-vehicle records, and one for weighbridge weight streams:

    delimited     fields split by a separator:      `412,2026-11-28 06:04:17.25,1,...`
    fixed         columns of fixed width:           `000412202611280604172501...`
    regex         named groups of one pattern:      `(?P<record_id>\\d+);(?P<gvw>\\d+)...`
    weight_stream a regex with weight/status/sign groups, e.g. the Rinstrum R320 `<SIGN><WEIGHT><STATUS>`

Delimited and fixed layouts list their fields in order; the item `axles` marks where the repeating per-axle
block sits (its runs in `axles.runs`). The block is printed run after run (`order: runs`: N weights, then N-1
spacings) or axle after axle (`order: per_axle`: weight and spacing of axle 1, then of axle 2, ...). N comes
from an `axle_count` field before the block, or, when there is none, from the record's length. A field with
`equals` is a literal the record must print there (a record type `W`): anything else rejects the record.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, Field, model_validator

from pantau.profiles.base import ProfileModel
from pantau.profiles.records.quantities import MassUnit
from pantau.profiles.records.text_escapes import decode_escapes

#: Record fields a format can fill, named as in the contract's Vehicle (`speed` is km/h, `gvw` kg,
#: `length`/`width`/`height` metres after unit conversion; `date` + `time` combine into `ts`).
RECORD_FIELDS: Final = frozenset(
    {
        "record_id",
        "ts",
        "date",
        "time",
        "lane",
        "direction",
        "speed",
        "gvw",
        "axle_count",
        "vehicle_class",
        "length",
        "width",
        "height",
        "error_code",
    }
)
AxleField = Literal["axle_weight", "axle_spacing", "axle_tyres"]
AXLE_FIELDS: Final[tuple[AxleField, ...]] = ("axle_weight", "axle_spacing", "axle_tyres")
#: The item in a field list where the per-axle block sits.
AXLES_MARKER: Final = "axles"
#: Most columns a layout may have (a 20-axle record with tyres is about 75).
MAX_FIELDS: Final = 200
_IGNORED = re.compile(r"_[a-z0-9_]{1,40}")


def is_ignored(name: str) -> bool:
    """Names starting with `_` are fields the record has but pantau does not use."""
    return _IGNORED.fullmatch(name) is not None


def _check_field_name(name: str) -> str:
    if name in RECORD_FIELDS or name == AXLES_MARKER or is_ignored(name):
        return name
    known = ", ".join(sorted(RECORD_FIELDS))
    raise ValueError(f"{name!r} is not a record field ({known}), `axles`, or an ignored `_name`")


FieldName = Annotated[str, AfterValidator(_check_field_name)]


def _as_named(value: object) -> object:
    """Let YAML say `gvw` where `{name: gvw}` is meant (delimited layouts need no widths)."""
    return {"name": value} if isinstance(value, str) else value


class FieldSlot(ProfileModel):
    """One field of a delimited or fixed layout; `width` (characters) only in fixed layouts.

    `equals` makes the field a literal the record must print (stripped), such as a record type `W`: a
    fixed layout can otherwise only read past a column, so records of another type would parse as vehicles.
    """

    name: FieldName
    width: int | None = Field(default=None, ge=1, le=1000)
    equals: str | None = Field(default=None, min_length=1, max_length=40)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: object) -> object:
        return _as_named(value)

    @model_validator(mode="after")
    def _literal_fits(self) -> FieldSlot:
        if self.equals is None:
            return self
        if self.name == AXLES_MARKER:
            raise ValueError("the `axles` item cannot have `equals`")
        if self.equals != self.equals.strip():
            raise ValueError(f"equals {self.equals!r}: values are compared stripped, so it can never match")
        if self.width is not None and len(self.equals) > self.width:
            raise ValueError(f"equals {self.equals!r} is longer than the field's width {self.width}")
        return self


class AxleRun(ProfileModel):
    """One run of the per-axle block: `axle_weight` for every axle, `axle_spacing` between axles, ..."""

    name: AxleField
    width: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: object) -> object:
        return _as_named(value)


class AxleBlock(ProfileModel):
    """The repeating per-axle block: runs in printed order, each one value per axle (spacings one fewer)."""

    runs: Annotated[list[AxleRun], Field(min_length=1, max_length=3)]
    spacings: Literal["n-1", "n"] = Field(
        default="n-1", description="'n': a spacing is printed for the last axle too (and ignored)"
    )
    order: Literal["runs", "per_axle"] = Field(
        default="runs",
        description="'runs': all weights, then all spacings; 'per_axle': each axle's values together",
    )

    @model_validator(mode="after")
    def _runs_are_distinct(self) -> AxleBlock:
        names = [run.name for run in self.runs]
        if len(set(names)) != len(names):
            raise ValueError(f"runs: each axle value appears once, got {names}")
        if "axle_weight" not in names:
            raise ValueError("runs: the per-axle block needs axle_weight")
        return self

    def values_in_run(self, run: AxleRun, axle_count: int) -> int:
        """How many values `run` holds for a vehicle with `axle_count` axles."""
        if run.name == "axle_spacing" and self.spacings == "n-1":
            return max(axle_count - 1, 0)
        return axle_count

    def slots(self, axle_count: int) -> list[tuple[AxleRun, int]]:
        """(run, axle index) of every printed value of the block, in printed order.

        With `order: per_axle` and `spacings: n-1` the last axle prints no spacing column at all.
        """
        if self.order == "runs":
            return [(run, index) for run in self.runs for index in range(self.values_in_run(run, axle_count))]
        return [
            (run, index)
            for index in range(axle_count)
            for run in self.runs
            if index < self.values_in_run(run, axle_count)
        ]


class _SlotLayout(ProfileModel):
    fields: Annotated[list[FieldSlot], Field(min_length=1, max_length=MAX_FIELDS)]
    axles: AxleBlock | None = None

    @model_validator(mode="after")
    def _fields_are_consistent(self) -> _SlotLayout:
        names = [slot.name for slot in self.fields if not is_ignored(slot.name)]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"fields: {', '.join(duplicates)} appear more than once")
        if (AXLES_MARKER in names) != (self.axles is not None):
            raise ValueError(
                "fields: the `axles` item marks where the `axles` block sits; give both or neither"
            )
        if "axle_count" in names and AXLES_MARKER not in names:
            raise ValueError("fields: axle_count without an `axles` block")
        if "axle_count" in names and names.index("axle_count") > names.index(AXLES_MARKER):
            raise ValueError("fields: axle_count must come before the `axles` block it counts")
        return self

    def field_names(self) -> set[str]:
        """The record fields this layout fills (ignored fields and the marker left out)."""
        names = {slot.name for slot in self.fields if not is_ignored(slot.name)} - {AXLES_MARKER}
        return names | {run.name for run in self.axles.runs} if self.axles else names

    def split_at_axles(self) -> tuple[list[FieldSlot], list[FieldSlot]]:
        """Fields before and after the per-axle block (all fields are 'before' without one)."""
        names = [slot.name for slot in self.fields]
        if AXLES_MARKER not in names:
            return list(self.fields), []
        at = names.index(AXLES_MARKER)
        return list(self.fields[:at]), list(self.fields[at + 1 :])


class DelimitedLayout(_SlotLayout):
    """Fields split by `separator`, each stripped of surrounding spaces. No quoting (controllers use none)."""

    kind: Literal["delimited"]
    separator: Annotated[str, AfterValidator(decode_escapes), Field(min_length=1, max_length=4)] = ","

    @model_validator(mode="after")
    def _no_widths(self) -> DelimitedLayout:
        widths = [slot.name for slot in self.fields if slot.width is not None]
        widths += [run.name for run in self.axles.runs if run.width is not None] if self.axles else []
        if widths:
            raise ValueError(f"`width` applies to fixed layouts only ({', '.join(widths)})")
        return self


class FixedLayout(_SlotLayout):
    """Columns of fixed width in order; every field and axle run needs `width` (the marker takes none)."""

    kind: Literal["fixed"]

    @model_validator(mode="after")
    def _widths_given(self) -> FixedLayout:
        missing = [s.name for s in self.fields if s.name != AXLES_MARKER and s.width is None]
        missing += [run.name for run in self.axles.runs if run.width is None] if self.axles else []
        if missing:
            raise ValueError(f"fixed layout: `width` missing for {', '.join(missing)}")
        if any(s.name == AXLES_MARKER and s.width is not None for s in self.fields):
            raise ValueError("fixed layout: the `axles` item takes no width (its runs have widths)")
        return self


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from exc


class RegexLayout(ProfileModel):
    """A pattern the whole record must match; named groups are record fields.

    A group named `axles` captures the per-axle block, which `axle_pattern` then matches axle by axle
    (groups axle_weight, axle_spacing, axle_tyres; an unmatched spacing group on the last axle is fine).
    The encoder cannot invert a regex: simulators need a delimited or fixed layout.
    """

    kind: Literal["regex"]
    pattern: str = Field(min_length=1, max_length=2000)
    axle_pattern: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _groups_are_fields(self) -> RegexLayout:
        groups = set(_compile(self.pattern).groupindex)
        for name in sorted(groups):
            _check_field_name(name)
        if (AXLES_MARKER in groups) != (self.axle_pattern is not None):
            raise ValueError("a group named `axles` and `axle_pattern` go together")
        if self.axle_pattern is not None:
            compiled = _compile(self.axle_pattern)
            axle_groups = set(compiled.groupindex)
            unknown = sorted(axle_groups - set(AXLE_FIELDS))
            if unknown:
                raise ValueError(f"axle_pattern: groups {unknown} are not among {', '.join(AXLE_FIELDS)}")
            if "axle_weight" not in axle_groups:
                raise ValueError("axle_pattern needs an axle_weight group")
            if compiled.match(""):
                raise ValueError("axle_pattern matches the empty string, so it could repeat forever")
        return self

    @property
    def compiled(self) -> re.Pattern[str]:
        """The record pattern (re's own cache makes repeated compiles cheap)."""
        return re.compile(self.pattern)

    @property
    def compiled_axle(self) -> re.Pattern[str] | None:
        """The per-axle pattern, if the record has an axle block."""
        return re.compile(self.axle_pattern) if self.axle_pattern is not None else None

    def field_names(self) -> set[str]:
        """The record fields this layout fills (ignored groups and `axles` left out)."""
        names = {n for n in self.compiled.groupindex if not is_ignored(n) and n != AXLES_MARKER}
        axle = self.compiled_axle
        return names | set(axle.groupindex) if axle else names


class WeightStatus(StrEnum):
    """What a weighbridge indicator says about the weight it shows."""

    GROSS = "gross"
    NET = "net"
    UNDERLOAD = "underload"
    OVERLOAD = "overload"
    MOTION = "motion"
    ERROR = "error"


#: Statuses whose frames may carry no number (the indicator prints dashes or a message instead).
STATUSES_WITHOUT_WEIGHT: Final = frozenset(
    {WeightStatus.UNDERLOAD, WeightStatus.OVERLOAD, WeightStatus.ERROR}
)


class WeightStreamLayout(ProfileModel):
    """A continuous weight stream: each frame one sample with `weight`, `status` and optional `sign` groups.

    `statuses` maps the printed status code to its meaning. `output_template` (Python format syntax with
    fields sign, weight, status) lets the encoder write frames for simulators.
    """

    kind: Literal["weight_stream"]
    pattern: str = Field(min_length=1, max_length=500)
    statuses: Annotated[dict[str, WeightStatus], Field(min_length=1)]
    weight_unit: MassUnit = "kg"
    output_template: str | None = Field(default=None, max_length=200)
    positive_sign: Literal[" ", "+", ""] = Field(default=" ", description="Sign the encoder writes for >= 0")
    weight_decimals: int = Field(default=0, ge=0, le=6, description="Decimals the encoder writes")

    @model_validator(mode="after")
    def _groups_present(self) -> WeightStreamLayout:
        groups = set(_compile(self.pattern).groupindex)
        missing = sorted({"weight", "status"} - groups)
        if missing:
            raise ValueError(f"pattern needs named groups {', '.join(missing)}")
        unknown = sorted(groups - {"weight", "status", "sign"})
        if unknown:
            raise ValueError(f"pattern: groups {unknown} are not weight, status or sign")
        if self.output_template is not None:
            try:
                self.output_template.format(sign="+", weight="0", status="G")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"output_template {self.output_template!r}: {exc!r}") from exc
        return self

    @property
    def compiled(self) -> re.Pattern[str]:
        """The sample pattern."""
        return re.compile(self.pattern)

    def field_names(self) -> set[str]:
        """Weight streams fill no record fields directly (the weighbridge state machine makes records)."""
        return set()


RecordLayout = Annotated[
    DelimitedLayout | FixedLayout | RegexLayout | WeightStreamLayout, Field(discriminator="kind")
]
