"""Modbus device profiles: the register map of one product, as configuration.

A profile lists channels (what to read and how to decode it) and derived channels (values computed from
other channels plus site parameters, e.g. level = mounting height - distance). Register numbers are written
as in the manual; `address_base` says how they map to wire addresses (manual numbers are often 1-based).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import Field, model_validator

from pantau.config import Duration
from pantau.contract.fields import Slug, Unit
from pantau.profiles.base import ProfileHeader, ProfileModel, SerialSettings
from pantau.profiles.modbus.register_numbers import modicon_problem

#: The Modbus spec's limit for FC3/FC4 (125 registers = 250 data bytes) and FC1/FC2 (2000 bits).
MODBUS_MAX_REGISTERS: Final = 125
MODBUS_MAX_BITS: Final = 2000


class Table(StrEnum):
    """The four Modbus tables and the read function code of each."""

    COILS = "coils"
    DISCRETE_INPUTS = "discrete_inputs"
    HOLDING = "holding"
    INPUT = "input"

    @property
    def function_code(self) -> int:
        return _FUNCTION_CODES[self]

    @property
    def is_bits(self) -> bool:
        return self in (Table.COILS, Table.DISCRETE_INPUTS)


_FUNCTION_CODES: Final = {Table.COILS: 1, Table.DISCRETE_INPUTS: 2, Table.HOLDING: 3, Table.INPUT: 4}


class DataType(StrEnum):
    INT8 = "int8"  # one byte of a register (`byte: high|low`): status or decimal-point bytes on cheap sensors
    UINT8 = "uint8"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT16 = "float16"  # IEEE 754 half precision in one register
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BIT = "bit"  # one bit of a register (`bit: 0..15`), or one coil/discrete input
    STRING = "string"  # `length` registers, two ASCII characters each (or one, in the `byte` given)

    @property
    def is_float(self) -> bool:
        return self in (DataType.FLOAT16, DataType.FLOAT32, DataType.FLOAT64)

    @property
    def is_integer(self) -> bool:
        """Types whose raw value is a whole number (bits included), kept exact unless scaling makes it
        fractional."""
        return self not in (DataType.FLOAT16, DataType.FLOAT32, DataType.FLOAT64, DataType.STRING)


#: Registers each fixed-size type occupies.
REGISTER_COUNT: Final = {
    DataType.INT8: 1,
    DataType.UINT8: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT16: 1,
    DataType.FLOAT32: 2,
    DataType.FLOAT64: 4,
    DataType.BIT: 1,
}
#: Types whose value sits in part of one register: a byte order means nothing for them (`byte`/`bit` say
#: which part).
_PART_OF_A_REGISTER: Final = (DataType.INT8, DataType.UINT8, DataType.BIT)
#: Types a decimal-places register can have (often a byte of a register shared with a status byte).
_DECIMALS_TYPES: Final = (DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16)
#: Types of one whole register (and text, two characters per register): bytes can be swapped, words cannot.
_BYTE_SWAP_ONLY: Final = (DataType.INT16, DataType.UINT16, DataType.FLOAT16, DataType.STRING)


class ByteOrder(StrEnum):
    """Order of the bytes of a multi-register value, `A` being the most significant byte.

    ABCD big-endian (the Modbus default), CDAB word-swapped (common on PLCs and VEGA's register 106),
    BADC byte-swapped, DCBA little-endian. For 64-bit values the same swaps apply word-wise.
    """

    ABCD = "ABCD"
    CDAB = "CDAB"
    BADC = "BADC"
    DCBA = "DCBA"


class RegisterByte(StrEnum):
    """Which byte of a register holds an 8-bit value (or a string's one character per register)."""

    HIGH = "high"  # the first byte on the wire (bits 15..8)
    LOW = "low"  # the second byte (bits 7..0)


class UnitFrom(ProfileModel):
    """The device reports its unit in another register: convert to the channel's `unit` by code."""

    channel: Slug
    factors: dict[int, float] = Field(min_length=1, description="Unit code -> factor to the channel's unit")


class ChannelSpec(ProfileModel):
    """One value read from the device."""

    @model_validator(mode="before")
    @classmethod
    def _six_digit_modicon(cls, data: object) -> object:
        # Before the range check, which would only say "at most 65536": 400107 is holding register 107.
        if isinstance(data, dict) and isinstance(data.get("register"), int) and data["register"] > 65536:
            problem = modicon_problem(data["register"], str(data.get("table", Table.HOLDING)))
            if problem:
                raise ValueError(problem)
        return data

    id: Slug
    # `register` in YAML; not the attribute name, which pydantic's ABC base already uses.
    number: int = Field(alias="register", ge=0, le=65536, description="Register/coil number as in the manual")
    table: Table = Table.HOLDING
    type: DataType = DataType.UINT16
    order: ByteOrder = ByteOrder.ABCD
    bit: int | None = Field(default=None, ge=0, le=15, description="For type bit on a register table")
    byte: RegisterByte | None = Field(
        default=None,
        description="int8/uint8: the register's high or low byte; string: one character per register, there",
    )
    length: int | None = Field(default=None, ge=1, le=64, description="Registers of a string")
    scale: float = 1.0
    offset: float = 0.0
    decimals_from: Slug | None = Field(
        default=None, description="Channel holding the number of decimal places: value = raw / 10**decimals"
    )
    unit_from: UnitFrom | None = None
    enum: dict[int, str] | None = Field(default=None, description="Code -> name (value stays the code)")
    unit: Unit | None = None
    quantity: Slug | None = Field(default=None, description="What is measured: water_level, distance, ...")
    range: tuple[float, float] | None = Field(
        default=None, description="Physically possible values; outside -> quality suspect"
    )
    invalid_when: dict[Slug, list[int]] | None = Field(
        default=None, description="Channel -> codes that make this value bad (e.g. a status bit)"
    )
    internal: bool = Field(default=False, description="Read for other channels (decimals), not published")

    @model_validator(mode="after")
    def _consistent(self) -> ChannelSpec:
        if self.table.is_bits and self.type is not DataType.BIT:
            raise ValueError(f"a {self.table} channel has type 'bit', not '{self.type}'")
        if self.type is DataType.BIT and not self.table.is_bits and self.bit is None:
            raise ValueError("a bit of a register needs `bit: 0..15`")
        if self.bit is not None and (self.type is not DataType.BIT or self.table.is_bits):
            raise ValueError("`bit` applies only to type 'bit' on holding/input registers")
        if (self.type is DataType.STRING) != (self.length is not None):
            raise ValueError("`length` (registers) is required for type 'string' and only for it")
        numeric = self.type not in (DataType.STRING, DataType.BIT)
        scaled = self.scale != 1.0 or self.offset != 0.0 or self.decimals_from or self.range or self.unit_from
        if not numeric and scaled:
            raise ValueError(f"scale/offset/decimals_from/unit_from/range do not apply to type '{self.type}'")
        if self.unit_from is not None and self.unit is None:
            raise ValueError("unit_from converts to the channel's `unit`, which is missing")
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError(f"range {list(self.range)}: the minimum must be below the maximum")
        if self.scale == 0:
            raise ValueError("scale 0 would turn every reading into 0")
        return self

    @model_validator(mode="after")
    def _options_mean_something(self) -> ChannelSpec:
        # An option a type ignores is a profile that does not say what the device says (`order: DCBA` on a
        # bit passed every check and did nothing): each option is honoured by the type, or refused here.
        where = f"channel '{self.id}' (type {self.type})"
        if (self.type in (DataType.INT8, DataType.UINT8)) and self.byte is None:
            raise ValueError(f"{where}: `byte: high` or `byte: low` says which byte of the register it is")
        if self.byte is not None and self.type not in (DataType.INT8, DataType.UINT8, DataType.STRING):
            raise ValueError(f"{where}: `byte` applies only to int8, uint8 and string (one character each)")
        if "order" in self.model_fields_set:
            self._check_order(where)
        if self.enum is not None and not self.type.is_integer:
            raise ValueError(f"{where}: `enum` maps integer codes; a {self.type} value is not a code")
        return self

    def _check_order(self, where: str) -> None:
        if self.type in _PART_OF_A_REGISTER or (self.type is DataType.STRING and self.byte is not None):
            part = "`bit`" if self.type is DataType.BIT else "`byte`"
            raise ValueError(f"{where}: `order: {self.order}` means nothing here ({part} picks the value)")
        if self.type in _BYTE_SWAP_ONLY and self.order not in (ByteOrder.ABCD, ByteOrder.BADC):
            raise ValueError(
                f"{where}: `order: {self.order}` swaps words, and this value has none: "
                "ABCD (as sent) or BADC (bytes swapped)"
            )

    @property
    def register_count(self) -> int:
        return self.length if self.type is DataType.STRING and self.length else REGISTER_COUNT[self.type]


class DerivedKind(StrEnum):
    """How a derived channel is computed; each needs `source` and most a site `param`."""

    HEIGHT_MINUS = "height_minus"  # value = param - source   (radar: level = mounting height - distance)
    DATUM_PLUS = "datum_plus"  # value = param + source       (pressure head above the sensor's datum)
    COUNTER_INCREMENT = "counter_increment"  # increase of a counter since the previous poll (wrap, reset)


class DerivedSpec(ProfileModel):
    id: Slug
    kind: DerivedKind
    source: Slug
    param: Slug | None = Field(default=None, description="Site parameter, e.g. mounting_height_m")
    unit: Unit | None = None
    quantity: Slug | None = None
    scale: float = Field(default=1.0, description="Applied to counter increments (e.g. µm -> mm: 0.001)")
    counter_bits: Literal[16, 32, 64] = 32
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _param_present(self) -> DerivedSpec:
        needs_param = self.kind is not DerivedKind.COUNTER_INCREMENT
        if needs_param != (self.param is not None):
            raise ValueError(f"derived kind '{self.kind}' {'needs' if needs_param else 'takes no'} `param`")
        if self.kind is not DerivedKind.COUNTER_INCREMENT:
            # Ignored here once, and a Keller profile's `scale: 10.197` gave a level in "bar plus metres".
            if self.scale != 1.0:
                raise ValueError(
                    f"scale applies only to counter_increment; {self.kind} combines '{self.param}' and "
                    f"'{self.source}' unscaled: put the scale on channel '{self.source}' (10.197 turns bar "
                    "into metres of water)"
                )
            if self.counter_bits != 32:
                raise ValueError("counter_bits applies only to counter_increment")
        return self


#: The device's factory serial settings (a site config may override them per bus).
SerialDefaults = SerialSettings


class ModbusProfile(ProfileHeader):
    """The register map of one Modbus product."""

    protocol: Literal["modbus"]
    default_unit_id: int = Field(default=1, ge=0, le=255)
    serial: SerialDefaults = SerialDefaults()
    address_base: Literal[0, 1] = Field(
        default=0, description="0: register numbers are wire addresses; 1: manual numbers start at 1"
    )
    max_registers_per_request: int = Field(default=MODBUS_MAX_REGISTERS, ge=1, le=MODBUS_MAX_REGISTERS)
    max_gap: int | None = Field(
        default=None, ge=0, le=MODBUS_MAX_REGISTERS, description="Unused registers a read may span at most"
    )
    reply_delay: Duration = Field(default=timedelta(0), description="The device's turnaround before replying")
    plain_register_numbers: bool = Field(
        default=False,
        description="The map really numbers registers 10001-49999 (SunSpec's start at 40000): do not read "
        "them as Modicon 1xxxx/3xxxx/4xxxx numbering",
    )
    channels: Annotated[list[ChannelSpec], Field(min_length=1, max_length=256)]
    derived: tuple[DerivedSpec, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> ModbusProfile:
        ids = [c.id for c in self.channels] + [d.id for d in self.derived]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"channel ids must be unique: {', '.join(duplicates)}")
        by_id = {c.id: c for c in self.channels}
        for channel in self.channels:
            self._check_references(channel, by_id)
        for derived in self.derived:
            if derived.source not in by_id:
                raise ValueError(f"derived '{derived.id}': source '{derived.source}' is not a channel")
        return self

    def _check_references(self, channel: ChannelSpec, by_id: dict[str, ChannelSpec]) -> None:
        modicon = modicon_problem(channel.number, channel.table, plain_allowed=self.plain_register_numbers)
        if modicon:
            raise ValueError(f"channel '{channel.id}': {modicon}")
        if channel.number - self.address_base < 0:
            raise ValueError(f"channel '{channel.id}': register {channel.number} is below address_base")
        if channel.number - self.address_base + channel.register_count > 65536:
            raise ValueError(f"channel '{channel.id}': runs past register 65535")
        if channel.register_count > self.max_registers_per_request:
            raise ValueError(f"channel '{channel.id}' needs more registers than max_registers_per_request")
        if channel.decimals_from is not None:
            source = by_id.get(channel.decimals_from)
            if source is None or source.type not in _DECIMALS_TYPES:
                raise ValueError(
                    f"channel '{channel.id}': decimals_from must name an int8/uint8/int16/uint16 channel"
                )
        if channel.unit_from is not None and channel.unit_from.channel not in by_id:
            raise ValueError(
                f"channel '{channel.id}': unit_from names unknown channel '{channel.unit_from.channel}'"
            )
        for other in channel.invalid_when or {}:
            if other not in by_id:
                raise ValueError(f"channel '{channel.id}': invalid_when names unknown channel '{other}'")

    def wire_address(self, channel: ChannelSpec) -> int:
        """The address sent on the wire for a channel's first register."""
        return channel.number - self.address_base
