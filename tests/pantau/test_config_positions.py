"""Config errors give the YAML line and column (issue 21): sites, rules, profiles, backend configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import load_backend_config
from backend.rules import load_rules
from drivers.profiles import load_profile
from pantau.config import ConfigError, Mark, Marks
from pantau.config.positions import written_path
from pantau.site.config import load_site

FIELD = Path(__file__).parents[2] / "firmware_configs"


def test_marks_point_at_keys_and_list_items() -> None:
    marks = Marks.of("a:\n  b: [1, 2]\n  c:\n    - {id: x, d: 3}\n")
    assert marks.at(["a"]) == Mark(1, 1)
    assert marks.at(["a", "b", 1]) == Mark(2, 10)
    assert marks.at(["a", "c", 0, "d"]) == Mark(4, 15)
    # a part that is not in the file (a union tag, a missing field) leaves the nearest written ancestor
    assert marks.at(["a", "c", 0, "modbus", "missing"]) == Mark(4, 7)
    assert marks.at(["nothing"]) is None


def test_integer_keys_are_found_as_written() -> None:
    assert Marks.of("factors:\n  7: 1.0\n  8: 0.001\n").at(["factors", 8]) == Mark(3, 3)


def test_a_site_file_error_names_line_and_column(tmp_path: Path) -> None:
    text = (FIELD / "sites" / "ampal-mufakat.yaml").read_text()
    bad = tmp_path / "ampal-mufakat.yaml"
    assert "poll_interval: 10s" in text
    bad.write_text(text.replace("poll_interval: 10s", "poll_intervall: 10s", 1))
    line = next(i for i, row in enumerate(bad.read_text().splitlines(), 1) if "poll_intervall" in row)
    column = bad.read_text().splitlines()[line - 1].index("poll_intervall") + 1
    with pytest.raises(ConfigError) as caught:
        load_site(bad)
    assert str(caught.value).startswith(f"{bad}:{line}:{column}: buses[0] 'rs485-1'.devices[0] 'wl-radar'")
    assert "poll_intervall: Extra inputs are not permitted" in str(caught.value)


def test_a_backend_config_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "backend.yaml"
    path.write_text("worker_id: backend-1\nwriter:\n  batch_points: 0\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:3: writer\.batch_points: Input should be greater"):
        load_backend_config(path)


def test_a_profile_error_names_line_and_column(tmp_path: Path) -> None:
    text = (FIELD / "profiles" / "qdy30a.yaml").read_text()
    bad = tmp_path / "qdy30a.yaml"
    bad.write_text(text.replace("    type: int16\n", "    type: int61\n", 1))
    line = bad.read_text().splitlines().index("    type: int61") + 1
    where = rf"^{bad}:{line}:5: channels\[4\] 'water_column'\.type: Input should"
    with pytest.raises(ConfigError, match=where):
        load_profile(bad)


def test_a_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "backend.yaml"
    path.write_text("worker_id: a\n  writer: [\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2:9: not valid YAML"):
        load_backend_config(path)


def test_a_whole_profile_check_names_the_channel_and_its_line(tmp_path: Path) -> None:
    # Cross-channel checks run on the whole profile; the channel they name gives the place.
    text = (FIELD / "profiles" / "qdy30a.yaml").read_text()
    bad = tmp_path / "qdy30a.yaml"
    bad.write_text(
        text.replace("unit_from: {channel: pressure_unit,", "unit_from: {channel: pressure_units,")
    )
    line = next(i for i, row in enumerate(bad.read_text().splitlines(), 1) if "id: water_column" in row)
    with pytest.raises(ConfigError) as caught:
        load_profile(bad)
    assert str(caught.value) == (
        f"{bad}:{line}:5: channels[4] 'water_column': unit_from names unknown channel 'pressure_units'"
    )


def test_an_unknown_key_names_the_nearest_fields(tmp_path: Path) -> None:
    site = tmp_path / "ampal-mufakat.yaml"
    site.write_text(
        (FIELD / "sites" / "ampal-mufakat.yaml").read_text().replace("poll_interval:", "poll_intervall:")
    )
    with pytest.raises(
        ConfigError,
        match=r"poll_intervall: Extra inputs are not permitted \(did you mean 'poll_interval'\?\)",
    ):
        load_site(site)
    backend = tmp_path / "backend.yaml"
    backend.write_text("storage:\n  infux: {url: 'http://127.0.0.1:8086'}\n")
    with pytest.raises(ConfigError, match=rf"^{backend}:2:3: storage\.infux: .* \(did you mean 'influx'\?\)"):
        load_backend_config(backend)


def test_a_rule_typo_is_placed_and_named_past_the_union_tag(tmp_path: Path) -> None:
    # `kind: levels` puts the tag 'levels' into pydantic's location, and the rule also has a key `levels`.
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - id: x\n    kind: levels\n    levels:\n"
        "      - {name: a, trigger: 1, clera: 0.5}\n    selcet: {}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert str(caught.value).splitlines() == [
        f"{path}:5:31: rules[0] 'x': levels[0].clera: Extra inputs are not permitted (did you mean 'clear'?)",
        f"{path}:6:5: rules[0] 'x': selcet: Extra inputs are not permitted (did you mean 'select'?)",
    ]


def test_written_path_drops_one_union_tag_per_level() -> None:
    document = {"rules": [{"kind": "levels", "levels": [{"name": "a"}]}]}
    loc = ("rules", 0, "levels", "levels", 0, "name")
    assert written_path(loc, document) == ("rules", 0, "levels", 0, "name")
    assert written_path(("buses", 0, "modbus", "devices"), {"buses": [{"kind": "modbus"}]}) == (
        "buses",
        0,
        "devices",
    )


def test_a_rule_typo_is_compared_with_the_fields_of_its_own_kind(tmp_path: Path) -> None:
    # `window` is a field of rate rules, not of levels rules: suggesting it there would lead astray.
    path = tmp_path / "rules.yaml"
    levels = "levels: [{name: a, trigger: 1}]"
    path.write_text(
        f"rules:\n  - {{id: x, kind: levels, windw: 1m, {levels}}}\n"
        f"  - {{id: y, kind: rate, windw: 1m, {levels}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    first, second = str(caught.value).splitlines()
    assert "rules[0] 'x': windw:" in first and "'window'" not in first
    assert "rules[1] 'y': windw: Extra inputs are not permitted (did you mean 'window'" in second
