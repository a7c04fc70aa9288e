"""A record profile's `examples:` prove its layout against real records: loading a profile runs them, and
`pantau profile check` refuses a record profile without any."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drivers.profiles import load_profile
from drivers.serial_records.examples import example_problems, prove_examples
from pantau.cli import cli
from pantau.config import ConfigError
from pantau.profiles.files import shipped_profiles
from pantau.profiles.records.profile import RecordProfile
from tests.drivers.serial_records.conftest import make_profile
from tests.drivers.serial_records.fleet import INTERLEAVED_DOC, Truck

TRUCK = Truck("000412", "03", 42.5, [6120, 12860, 12660], [3.45, 1.31])
STATUS_RECORD = Truck("000413", "03", 0, [6120, 12860, 12660], [3.45, 1.31], record_type="X")
#: What the interleaved record above must read as.
TRUCK_EXPECTED: dict[str, Any] = {
    "record_id": "000412",
    "vehicle_class": "3",
    "speed_kmh": 42.5,
    "gvw_kg": 31640,
    "axles": [
        {"load_kg": 6120, "spacing_m": 3.45},
        {"load_kg": 12860, "spacing_m": 1.31},
        {"load_kg": 12660},
    ],
    "quality": "good",
}


def make_proven_profile(document: dict[str, Any]) -> RecordProfile:
    """The profile of `document`, its examples run as the drivers' loader runs them."""
    profile = make_profile(document)
    prove_examples(profile, "test")
    return profile


def frame_text(truck: Truck) -> str:
    return truck.line.removesuffix(b"\r\n").decode("ascii")


def profile_document(examples: list[dict[str, Any]], order: str = "per_axle") -> dict[str, Any]:
    document = copy.deepcopy(INTERLEAVED_DOC)
    document["format"]["axles"]["order"] = order
    document["examples"] = examples
    return document


def write_profile(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / f"{document['id']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_every_shipped_record_profile_carries_examples_that_parse() -> None:
    record_profiles = [p for p in map(load_profile, shipped_profiles()) if isinstance(p, RecordProfile)]
    assert {profile.id for profile in record_profiles} >= {"generic-wim-csv", "rinstrum-r320"}
    for profile in record_profiles:
        assert profile.examples, profile.id
        assert any(example.expect for example in profile.examples), profile.id
        assert example_problems(profile) == []


def test_examples_that_hold_load() -> None:
    examples = [
        {"frame": frame_text(TRUCK), "expect": TRUCK_EXPECTED},
        {"frame": frame_text(STATUS_RECORD), "reject": "_record_type"},
    ]
    assert len(make_proven_profile(profile_document(examples)).examples) == 2


def test_a_layout_reading_the_wrong_columns_fails_its_example_at_its_line(tmp_path: Path) -> None:
    # Issue 21's layout (runs instead of per-axle groups) is refused before it reaches a site.
    document = profile_document([{"frame": frame_text(TRUCK), "expect": TRUCK_EXPECTED}], order="runs")
    path = write_profile(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    line = path.read_text().splitlines().index("examples:") + 2  # the example's first line, 1-based
    assert str(caught.value).splitlines() == [
        f"{path}:{line}:3: examples[0]: {problem}"
        for problem in [
            "axles[0].spacing_m: parsed 1.31, expected 3.45",
            "axles[1].load_kg: parsed 3450.0, expected 12860",
            "axles[1].spacing_m: parsed 12.66, expected 1.31",
            "axles[2].load_kg: parsed 12860.0, expected 12660",
            "quality: parsed 'suspect', expected 'good'",
        ]
    ]


@pytest.mark.parametrize(
    ("example", "problem"),
    [
        (
            {"frame": frame_text(TRUCK), "reject": "_record_type"},
            "parsed as a record, expected a reject naming _record_type",
        ),
        (
            {"frame": frame_text(STATUS_RECORD), "expect": {"gvw_kg": 31640}},
            "rejected (_record_type: 'X' must be 'W'), expected a record",
        ),
        (
            {"frame": frame_text(TRUCK)[:-6], "reject": "_record_type"},
            (
                "rejected for axle_weight[2] (axle_weight[2]: record is 39 characters and ends inside "
                "this field (characters 37..40)), expected _record_type"
            ),
        ),
        (
            {"frame": frame_text(TRUCK), "expect": {"gvw": 31640}},
            (
                "expect: gvw not among the parsed fields (axles, dimensions, direction, error_code, groups, "
                "gvw_kg, lane, quality, reason, record_id, source, speed_kmh, ts, vehicle_class)"
            ),
        ),
        (
            {"frame": frame_text(TRUCK), "expect": {"axles": [{"load_kg": 6120}]}},
            "axles: parsed 3 items, expected 1",
        ),
        (
            {"frame": frame_text(TRUCK), "expect": {"record_id": 412}},
            "record_id: parsed '000412', expected 412",
        ),
        (
            {"frame": frame_text(TRUCK) + "\\r\\n", "expect": {"gvw_kg": 31640}},
            (
                f"frame {frame_text(TRUCK) + chr(13) + chr(10)!r} contains a framing marker "
                "(give one record without its framing)"
            ),
        ),
    ],
)
def test_an_example_that_does_not_hold_says_how(example: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_proven_profile(
            profile_document([{"frame": frame_text(TRUCK), "expect": TRUCK_EXPECTED}, example])
        )
    assert str(caught.value) == f"test: examples[1]: {problem}"


def test_an_example_states_one_outcome() -> None:
    with pytest.raises(ConfigError, match=r"either `expect` .* or `reject`"):
        make_proven_profile(profile_document([{"frame": frame_text(TRUCK)}]))


def test_a_weight_stream_example(r320_profile: RecordProfile) -> None:
    document = r320_profile.model_dump(mode="json", exclude={"examples"})
    document["examples"] = [{"frame": "   31640G", "expect": {"weight_kg": 31460, "status": "gross"}}]
    with pytest.raises(ConfigError, match=r"examples\[0\]: weight_kg: parsed 31640.0, expected 31460"):
        make_proven_profile(document)


def test_profile_check_runs_the_examples_and_wants_some(tmp_path: Path) -> None:
    proven = write_profile(
        tmp_path, profile_document([{"frame": frame_text(TRUCK), "expect": TRUCK_EXPECTED}])
    )
    result = CliRunner().invoke(cli, ["profile", "check", str(proven)])
    assert result.exit_code == 0, result.output
    assert "1 examples parse as stated" in result.output
    unproven = write_profile(tmp_path, profile_document([]) | {"id": "test-bare"})
    result = CliRunner().invoke(cli, ["profile", "check", str(unproven)])
    assert result.exit_code == 1
    assert f"{unproven}: examples: none given" in result.output
