"""Loading device profiles (`firmware_configs/profiles/*.yaml`), whatever their protocol.

Protocols are registered explicitly in PROFILE_TYPES; the YAML's `protocol` key picks the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from drivers.modbus.config import ModbusProfile
from drivers.profile_base import ProfileHeader
from drivers.serial_records.config import RecordProfile
from pantau.config import ConfigError, read_yaml, validate_model

#: `protocol:` value -> profile model.
PROFILE_TYPES: Final[dict[str, type[ProfileHeader]]] = {
    "modbus": ModbusProfile,
    "records": RecordProfile,
}
#: Where the shipped profiles live.
PROFILE_DIR: Final = Path(__file__).resolve().parent.parent / "firmware_configs" / "profiles"


def load_profile(path: Path) -> ProfileHeader:
    """Read and validate one profile; raises ConfigError naming the file and field."""
    read = read_yaml(path)
    document, marks = read.data, read.marks
    protocol = document.get("protocol")
    model = PROFILE_TYPES.get(protocol) if isinstance(protocol, str) else None
    if model is None:
        raise ConfigError(
            str(path),
            [f"protocol: {protocol!r} is not one of {', '.join(sorted(PROFILE_TYPES))}"],
            [marks.at(["protocol"])],
        )
    profile = validate_model(document, model, source=str(path), marks=marks)
    if path.stem != profile.id:
        raise ConfigError(
            str(path), [f"id: '{profile.id}' must match the file name '{path.stem}'"], [marks.at(["id"])]
        )
    return profile


def find_profile(name_or_path: str, directory: Path = PROFILE_DIR) -> Path:
    """A profile file by path, or by id among the shipped profiles (`vegapuls-c21`)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    shipped = directory / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
    raise ConfigError(name_or_path, [f"no such profile file or shipped profile id (shipped: {known})"])


def shipped_profiles(directory: Path = PROFILE_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))
