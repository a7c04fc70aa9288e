"""What every device profile says about itself, whatever its protocol.

A profile describes one product (a register map or a record format) and what it measures, so a site config
only adds the address, datum/mounting height and poll interval. Profiles live in
`firmware_configs/profiles/*.yaml`; `pantau.profiles.files.read_profile` reads them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pantau.contract.fields import Slug


class ProfileModel(BaseModel):
    """Base for every profile model: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileHeader(ProfileModel):
    """Identity of the product a profile describes."""

    id: Slug = Field(description="Profile id, used by site configs (`profile: vegapuls-c21`)")
    manufacturer: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    references: list[str] = Field(default=[], description="Manual sections and datasheets the map comes from")


class SerialSettings(ProfileModel):
    """A device's factory serial line settings, shared by Modbus RTU and record-stream profiles."""

    baudrate: int = Field(default=9600, ge=300, le=921_600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
