"""Durations in config files: what is refused, and that a refusal names the field instead of crashing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from pantau.config import ConfigError, validate_model
from pantau.config.durations import Duration, parse_duration
from pantau.site.config import load_site


class Timing(BaseModel):
    timeout: Duration


@pytest.mark.parametrize(
    ("written", "expected"),
    [("1h30m", timedelta(minutes=90)), (90, timedelta(seconds=90)), ("500ms", timedelta(milliseconds=500))],
)
def test_durations_read_as_written(written: object, expected: timedelta) -> None:
    assert parse_duration(written) == expected


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        (-86399999913601, "too long"),  # found by tests/fuzz: OverflowError out of the site loader
        (10**30, "too long"),
        ("99999999999d", "too long"),
        (float("inf"), "not a finite number"),
        (float("nan"), "not a finite number"),
    ],
)
def test_a_duration_past_what_timedelta_holds_is_a_config_error_naming_the_field(
    written: object, problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        validate_model({"timeout": written}, Timing, source="site.yaml")
    assert "site.yaml: timeout" in str(refused.value)
    assert problem in str(refused.value)


def test_a_huge_timeout_in_a_site_file_is_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "firmware_configs" / "sites" / "ampal-mufakat.yaml"
    site_file = tmp_path / "ampal-mufakat.yaml"
    site_file.write_text(
        shipped.read_text(encoding="utf-8").replace("timeout: 1s", "timeout: -86399999913601")
    )
    with pytest.raises(ConfigError) as refused:
        load_site(site_file)
    assert f"{site_file}:" in str(refused.value)
    assert "timing.timeout" in str(refused.value)
    assert "too long" in str(refused.value)
