"""Device profile files (`firmware_configs/profiles/*.yaml`), whatever their protocol, read into their models.

Protocols are registered explicitly in PROFILE_TYPES; the YAML's `protocol` key picks the model. This reads
what a profile says; a record profile's `examples:` are proven against its parser by the drivers
(`drivers.profiles.load_profile`), which a gateway and `pantau profile check` use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pantau.config import ConfigError, YamlDocument, read_yaml, validate_model
from pantau.profiles.base import ProfileHeader
from pantau.profiles.modbus.profile import ModbusProfile
from pantau.profiles.records.profile import RecordProfile

#: `protocol:` value -> profile model.
PROFILE_TYPES: Final[dict[str, type[ProfileHeader]]] = {
    "modbus": ModbusProfile,
    "records": RecordProfile,
}
#: Where the shipped profiles live.
PROFILE_DIR: Final = Path(__file__).resolve().parents[2] / "firmware_configs" / "profiles"


def read_profile(path: Path) -> ProfileHeader:
    """Read and validate one profile; raises ConfigError naming the file and field."""
    return profile_of(read_yaml(path), path)


def profile_of(read: YamlDocument, path: Path) -> ProfileHeader:
    """The profile a read file describes; raises ConfigError naming the file, line and field."""
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
