"""Profiles for the serial record tests: the two shipped ones, and inline fixed/regex/weight profiles that
exercise what the shipped ones do not (tyres, epoch time, scaled units, STX/ETX with a sum checksum)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pantau.config import load_yaml_model, validate_model
from pantau.profiles.records.profile import RecordProfile

PROFILE_DIR = Path(__file__).resolve().parents[3] / "firmware_configs" / "profiles"

FIXED_DOC: dict[str, Any] = {
    "id": "test-fixed",
    "protocol": "records",
    "manufacturer": "test",
    "model": "fixed columns",
    "source": "wim",
    "framing": {"kind": "stx_etx"},
    "checksum": {"algorithm": "sum8", "separator": "*", "covers_separator": True},
    "format": {
        "kind": "fixed",
        "fields": [
            {"name": "record_id", "width": 6},
            {"name": "ts", "width": 12},
            {"name": "lane", "width": 1},
            {"name": "direction", "width": 1},
            {"name": "speed", "width": 4},
            {"name": "gvw", "width": 5},
            {"name": "_road", "width": 2},
            {"name": "axle_count", "width": 2},
            {"name": "axles"},
            {"name": "error_code", "width": 3},
        ],
        "axles": {
            "runs": [
                {"name": "axle_weight", "width": 4},
                {"name": "axle_tyres", "width": 1},
                {"name": "axle_spacing", "width": 4},
            ]
        },
    },
    "values": {
        "units": {"gvw": "10kg", "axle_load": "10kg", "speed": "0.1km/h", "spacing": "cm"},
        "timestamps": {"kind": "epoch", "unit": "cs"},
        "tyres": {"S": "single", "D": "dual"},
        "directions": {"N": "north", "S": "south"},
        "no_error": ["000"],
    },
}

REGEX_DOC: dict[str, Any] = {
    "id": "test-regex",
    "protocol": "records",
    "manufacturer": "test",
    "model": "regex",
    "source": "wim",
    "framing": {"kind": "lines", "delimiter": "\\n"},
    "format": {
        "kind": "regex",
        "pattern": (
            r"VEH (?P<record_id>\d+) L(?P<lane>\d) V=(?P<speed>[\d.]+) GVW=(?P<gvw>\d+)?"
            r" AX\[(?P<axles>[^\]]*)\] C=(?P<vehicle_class>\w+)(?: E=(?P<error_code>\w+))?"
        ),
        "axle_pattern": r"(?P<axle_weight>\d+)(?:/(?P<axle_spacing>\d+))?;?",
    },
    "values": {"units": {"spacing": "cm"}},
}


def make_profile(document: dict[str, Any], **changes: Any) -> RecordProfile:
    """A validated profile from a document, with top-level keys replaced."""
    return validate_model(copy.deepcopy(document) | changes, RecordProfile, source="test")


@pytest.fixture(scope="session")
def wim_profile() -> RecordProfile:
    return load_yaml_model(PROFILE_DIR / "generic-wim-csv.yaml", RecordProfile)


@pytest.fixture(scope="session")
def r320_profile() -> RecordProfile:
    return load_yaml_model(PROFILE_DIR / "rinstrum-r320.yaml", RecordProfile)


@pytest.fixture(scope="session")
def fixed_profile() -> RecordProfile:
    return make_profile(FIXED_DOC)


@pytest.fixture(scope="session")
def regex_profile() -> RecordProfile:
    return make_profile(REGEX_DOC)
