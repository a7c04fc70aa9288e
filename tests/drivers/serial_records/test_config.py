"""Record profiles: the shipped ones load; bad ones fail naming the field and the problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from pantau.config import ConfigError, load_yaml_model, validate_model
from pantau.profiles.records.layouts import DelimitedLayout, WeightStreamLayout
from pantau.profiles.records.profile import DelimiterFraming, RecordProfile, StxEtxFraming, TextTimestamps
from pantau.profiles.records.text_escapes import decode_escapes
from tests.drivers.serial_records.conftest import FIXED_DOC, PROFILE_DIR, REGEX_DOC


def wim_document() -> dict[str, Any]:
    document = yaml.safe_load((PROFILE_DIR / "generic-wim-csv.yaml").read_text())
    assert isinstance(document, dict)
    return document


def test_generic_wim_profile_reads_as_documented(wim_profile: RecordProfile) -> None:
    assert wim_profile.source == "wim"
    assert isinstance(wim_profile.framing, DelimiterFraming)
    assert wim_profile.framing.delimiter == b"\r\n"
    assert isinstance(wim_profile.format, DelimitedLayout)
    assert wim_profile.format.field_names() >= {"record_id", "ts", "gvw", "axle_weight", "axle_spacing"}
    assert isinstance(wim_profile.values.timestamps, TextTimestamps)
    assert wim_profile.values.timestamps.zone == timezone(timedelta(hours=8))


def test_r320_profile_reads_as_documented(r320_profile: RecordProfile) -> None:
    assert r320_profile.source == "weighbridge"
    assert isinstance(r320_profile.framing, StxEtxFraming)
    assert (r320_profile.framing.start, r320_profile.framing.end) == (b"\x02", b"\x03")
    assert isinstance(r320_profile.format, WeightStreamLayout)
    assert set(r320_profile.format.statuses) == set("GNUOME")
    assert r320_profile.weighing is not None
    assert r320_profile.silence_timeout == timedelta(seconds=3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\r\\n", "\r\n"),
        ("\\x02", "\x02"),
        ("a\\tb\\\\", "a\tb\\"),
        ("\r\n", "\r\n"),  # already decoded by YAML's double quotes
        ("|", "|"),
    ],
)
def test_escapes_in_config_strings(text: str, expected: str) -> None:
    assert decode_escapes(text) == expected


def test_an_unknown_escape_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown escape '\\q'"):
        decode_escapes("\\q")


def test_markers_may_be_single_quoted_escapes_or_byte_values() -> None:
    document = wim_document()
    document["framing"] = {"kind": "stx_etx", "start": 2, "end": "\\x03"}
    profile = validate_model(document, RecordProfile, source="test")
    assert isinstance(profile.framing, StxEtxFraming)
    assert (profile.framing.start, profile.framing.end) == (b"\x02", b"\x03")


def _edit(path: str, value: object) -> dict[str, Any]:
    document = wim_document()
    node = document
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return document


_DELETE = object()

BAD_WIM_PROFILES = [
    ("baudrate", "serial.baudrate", 12, "serial.baudrate: Input should be greater than or equal to 300"),
    ("parity", "serial.parity", "X", "serial.parity: Input should be 'N', 'E' or 'O'"),
    ("empty delimiter", "framing.delimiter", "", "framing.delimiter:"),
    # (the path may show the union tag, `framing.lines.max_length`, depending on pantau.config's version)
    ("oversize max", "framing.max_length", 10**6, "max_length: Input should be less than or equal to 8192"),
    ("bad checksum", "checksum.algorithm", "crc16", "checksum.algorithm: Input should be 'xor8' or 'sum8'"),
    ("typo field", "format.fields", ["record_id", "gwv"], "'gwv' is not a record field"),
    ("duplicate", "format.fields", ["gvw", "gvw"], "gvw appear more than once"),
    (
        "marker without block",
        "format.axles",
        _DELETE,
        "the `axles` item marks where the `axles` block sits",
    ),
    ("no weights", "format.axles", {"runs": ["axle_spacing"]}, "needs axle_weight"),
    (
        "width in csv",
        "format.fields",
        ["axle_count", "axles", {"name": "gvw", "width": 3}],
        "`width` applies to fixed layouts only (gvw)",
    ),
    ("count after block", "format.fields", ["axles", "axle_count", "gvw"], "axle_count must come before"),
    ("unit", "values.units.gvw", "kgs", "values.units.gvw: 'kgs' is not a mass unit"),
    ("speed unit", "values.units.speed", "kph", "'kph' is not a speed unit"),
    ("time format", "values.timestamps.format", "%H:%M", "does not hold a full date"),
    ("offset", "values.timestamps.utc_offset", "WITA", "utc_offset 'WITA' is not like '+08:00'"),
    ("no timestamps", "values.timestamps", _DELETE, "values.timestamps is required with ts/date/time"),
    ("direction slug", "values.directions", {"1": "To Port"}, "values.directions.1: String should match"),
    ("unknown key", "sourec", "wim", "sourec: Extra inputs are not permitted"),
    (
        "stream needs weighbridge",
        "format",
        {"kind": "weight_stream", "pattern": "(?P<weight>.)(?P<status>.)", "statuses": {"G": "gross"}},
        "source: weighbridge",
    ),
    ("bad regex", "format", {"kind": "regex", "pattern": "(?P<gvw>"}, "not a valid regular expression"),
    (
        "regex group",
        "format",
        {"kind": "regex", "pattern": "(?P<weight>\\d+)"},
        "'weight' is not a record field",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), [c[1:] for c in BAD_WIM_PROFILES], ids=[c[0] for c in BAD_WIM_PROFILES]
)
def test_bad_profiles_fail_naming_the_field(path: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_model(_edit(path, value), RecordProfile, source="profiles/wim.yaml")
    assert str(caught.value).startswith("profiles/wim.yaml: ")
    assert message in str(caught.value)


def test_a_file_error_names_the_file(tmp_path: Path) -> None:
    document = wim_document()
    document["values"]["units"]["spacing"] = "furlong"
    path = tmp_path / "generic-wim-csv.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(
        ConfigError, match=rf"^{path}:\d+:\d+: values\.units\.spacing: 'furlong' is not a length unit"
    ):
        load_yaml_model(path, RecordProfile)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weighing": None}, "a `weighing` section goes with format kind 'weight_stream'"),
        (
            {"framing": {"kind": "stx_etx", "start": "\\x02", "end": "\\x02"}},
            "start and end markers must differ",
        ),
        (
            {"weighing": {"empty_threshold_kg": 0}},
            "weighing.empty_threshold_kg: Input should be greater than 0",
        ),
        ({"silence_timeout": "soon"}, "silence_timeout: duration 'soon'"),
    ],
)
def test_bad_weighbridge_profiles(r320_profile: RecordProfile, change: dict[str, Any], message: str) -> None:
    document = yaml.safe_load((PROFILE_DIR / "rinstrum-r320.yaml").read_text()) | change
    with pytest.raises(ConfigError, match=message):
        validate_model(document, RecordProfile, source="r320.yaml")


def _drop_first_width(document: dict[str, Any]) -> None:
    document["format"]["fields"][0].pop("width")


def _drop_run_width(document: dict[str, Any]) -> None:
    document["format"]["axles"]["runs"][0].pop("width")


def _drop_tyre_codes(document: dict[str, Any]) -> None:
    document["values"].pop("tyres")


def _checksum_as_field(document: dict[str, Any]) -> None:
    document["checksum"]["position"] = "field"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop_first_width, "`width` missing for record_id"),
        (_drop_run_width, "`width` missing for axle_weight"),
        (_drop_tyre_codes, "values.tyres must map the printed tyre codes"),
        (_checksum_as_field, "position 'field' uses the format's field separator"),
    ],
)
def test_bad_fixed_profiles(edit: Callable[[dict[str, Any]], None], message: str) -> None:
    document = copy.deepcopy(FIXED_DOC)
    edit(document)
    with pytest.raises(ConfigError, match=message):
        validate_model(document, RecordProfile, source="fixed.yaml")


def test_regex_axle_groups_must_be_axle_fields() -> None:
    document = copy.deepcopy(REGEX_DOC)
    document["format"]["axle_pattern"] = r"(?P<axle_weight>\d+)(?P<gvw>x)?"
    with pytest.raises(ConfigError, match=r"axle_pattern: groups \['gvw'\]"):
        validate_model(document, RecordProfile, source="regex.yaml")


def test_profiles_are_immutable(wim_profile: RecordProfile) -> None:
    with pytest.raises(ValueError, match="frozen"):
        wim_profile.source = "weighbridge"  # type: ignore[misc]


def test_utc_offset_zero_is_utc() -> None:
    spec = TextTimestamps(kind="text", format="%Y-%m-%d %H:%M:%S")
    assert spec.zone is UTC
