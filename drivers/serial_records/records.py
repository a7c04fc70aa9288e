"""`VehicleRecord`: one vehicle as a driver reads it, before the gateway adds the message envelope.

It holds exactly the non-envelope fields of the contract's `Vehicle`. Rather than repeating the contract's
rules (ranges, axle/group consistency, quality/reason pairing), a record validates by building a `Vehicle`
with a placeholder envelope: whatever the contract would reject, a record rejects at once, with the
contract's field path in the message, so a bad record never reaches the publisher.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from pantau.contract.fields import FiniteFloat, Label, ReasonCode, Slug, UtcDatetime
from pantau.contract.messages import Axle, Dimensions, Quality, Vehicle

#: Envelope used only to check a record against the contract; never published.
_CHECK_ID: Final = "record-check"


def describe_validation_error(exc: ValidationError) -> str:
    """`axles[0].load_kg = 70000.0: Input should be less than or equal to 60000; ...`: paths and inputs."""
    problems = []
    for error in exc.errors(include_url=False, include_context=False):
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
        scalar = isinstance(error["input"], str | int | float | bool) or error["input"] is None
        shown = f" = {error['input']!r}" if scalar else ""  # a whole list or model would drown the message
        where = f"{path.lstrip('.')}{shown}: " if path or shown else ""
        problems.append(f"{where}{error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


class VehicleRecord(BaseModel):
    """One WIM record or weighbridge weighing, valid as a contract `Vehicle` once given an envelope."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    ts: UtcDatetime
    source: Literal["wim", "weighbridge"]
    record_id: Label | None = None
    lane: int | None = None
    direction: Slug | None = None
    speed_kmh: FiniteFloat | None = None
    gvw_kg: FiniteFloat
    axles: list[Axle] = []
    groups: list[int] | None = None
    vehicle_class: Label | None = None
    dimensions: Dimensions | None = None
    error_code: Label | None = None
    quality: Quality = Quality.GOOD
    reason: ReasonCode | None = None

    @model_validator(mode="after")
    def _valid_as_contract_vehicle(self) -> VehicleRecord:
        try:
            self._vehicle(site=_CHECK_ID, device=_CHECK_ID, gateway=_CHECK_ID, seq=0)
        except ValidationError as exc:
            # A ValueError (not the inner ValidationError) so pydantic reports it as this record's error.
            raise ValueError(describe_validation_error(exc)) from exc
        return self

    def to_message(self, *, site: str, device: str, gateway: str, seq: int) -> Vehicle:
        """The contract message the gateway publishes; the envelope is the only thing added."""
        return self._vehicle(site=site, device=device, gateway=gateway, seq=seq)

    def _vehicle(self, *, site: str, device: str, gateway: str, seq: int) -> Vehicle:
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return Vehicle.model_validate(
            {**fields, "site": site, "device": device, "gateway": gateway, "seq": seq}
        )
