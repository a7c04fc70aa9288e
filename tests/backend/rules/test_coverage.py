"""Rules checked against the site inventory (issue 21, defect 3): a selector that names nothing, an unknown
quantity or unit, a unit that is not the channel's fail `pantau rules check --sites` with the file, line,
column, rule id and the nearest existing names; `allow_unmatched: true` turns them into warnings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from backend.inventory import SiteInventory
from backend.rules.config import validate_rules
from backend.rules.coverage import Catalog, check_coverage, load_checked_rules
from pantau.cli import cli
from pantau.config import ConfigError

FIELD = Path(__file__).parents[3] / "firmware_configs"
SITES = FIELD / "sites"
EXAMPLE = FIELD / "rules" / "balikpapan.yaml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return SiteInventory.load(SITES).catalog()


def problems_of(rule_yaml: str, catalog: Catalog) -> list[str]:
    document = {"rules": [yaml.safe_load(rule_yaml)]}
    return [str(p) for p in check_coverage(validate_rules(document, source="rules.yaml"), catalog)]


LEVELS = "kind: levels, levels: [{name: Siaga I, trigger: 2.9}]"
QC = "kind: qc, gross_range: {fail: {min: 0, max: 10}}"
RAIN = "kind: accumulation, levels: [{name: x, trigger: 9}]"
GOOD = [
    ("a site and a quantity", f"{{id: r, {LEVELS}, select: {{site: ampal-mufakat, quantity: water_level}}}}"),
    ("a glob over devices", f"{{id: r, {LEVELS}, select: {{device: 'wl-*', channel: level}}, unit: m}}"),
    ("tags", f"{{id: r, {QC}, select: {{tags: river, quantity: water_level}}}}"),
    ("everything", f"{{id: r, {QC}}}"),
    ("a gateway stale rule", "{id: r, kind: stale, scope: gateway, select: {site: 'soekarno-*'}}"),
    ("a device stale rule", "{id: r, kind: stale, select: {site: ampal-mufakat, device: rain}}"),
    ("odol on both record streams", "{id: r, kind: odol, select: {device: [wim-1, weighbridge-1]}}"),
    ("rainfall in mm", f"{{id: r, {RAIN}, select: {{channel: rain}}}}"),
]


@pytest.mark.parametrize("rule", [c[1] for c in GOOD], ids=[c[0] for c in GOOD])
def test_rules_that_select_something_pass(rule: str, catalog: Catalog) -> None:
    assert problems_of(rule, catalog) == []


BAD = [
    (
        "misspelt site",
        f"{{id: banjir, {LEVELS}, select: {{site: ampal-mufakt, quantity: water_level}}}}",
        (
            "rules[0] 'banjir': select.site: no site 'ampal-mufakt' in the site inventory "
            "(did you mean 'ampal-mufakat'?)"
        ),
    ),
    (
        "misspelt quantity",
        f"{{id: banjir, {LEVELS}, select: {{site: ampal-mufakat, quantity: water_levl}}}}",
        "select.quantity: no channel in the site inventory measures 'water_levl' (did you mean 'water_level'",
    ),
    (
        "misspelt device in a list",
        f"{{id: r, {LEVELS}, select: {{device: [wl-radar, wl-presure], channel: level}}}}",
        (
            "select.device[1]: no device 'wl-presure' on ampal-mufakat, soekarno-hatta-km13 "
            "(did you mean 'wl-pressure'?)"
        ),
    ),
    (
        "device of another site",
        "{id: r, kind: odol, select: {site: soekarno-hatta-km13, device: wl-radar}}",
        "select.device: no device 'wl-radar' on soekarno-hatta-km13; it is a device of ampal-mufakat",
    ),
    (
        "misspelt channel",
        f"{{id: r, {LEVELS}, select: {{device: wl-radar, channel: levle}}}}",
        "select.channel: no channel 'levle' of ampal-mufakat/wl-radar (did you mean 'level'?)",
    ),
    (
        "glob matching nothing",
        f"{{id: r, {LEVELS}, select: {{device: 'wx-*'}}}}",
        "select.device: pattern 'wx-*' matches no device on ampal-mufakat, soekarno-hatta-km13",
    ),
    (
        "unknown tag",
        "{id: r, kind: stale, select: {tags: rivr}}",
        "select.tags: no site has tag 'rivr' (did you mean 'river'?)",
    ),
    (
        "a quantity the selected device does not have",
        f"{{id: r, {QC}, select: {{device: rain, quantity: water_level}}}}",
        "select.quantity: none of the channels selected measures 'water_level' (they measure rain_increment",
    ),
    (
        "each part exists, not together",
        f"{{id: r, {LEVELS}, select: {{site: soekarno-hatta-km13, tags: river}}}}",
        "select: selects no channel: site=('soekarno-hatta-km13',), tags=('river',) match nothing together",
    ),
    (
        "unknown unit",
        f"{{id: r, {LEVELS}, select: {{device: wl-radar, channel: level}}, unit: meter}}",
        "unit: 'meter' is the unit of no channel in the site inventory",
    ),
    (
        "a unit that is not the channel's",
        f"{{id: r, {LEVELS}, select: {{device: [wl-radar, wl-pressure], channel: level}}, unit: mm}}",
        (
            "unit: 'mm' but ampal-mufakat/wl-pressure/level, ampal-mufakat/wl-radar/level are in 'm': "
            "the rule does not convert"
        ),
    ),
    (
        "rainfall default unit against a rate channel",
        f"{{id: r, {RAIN}, select: {{channel: rain_rate}}}}",
        "unit: 'mm' but ampal-mufakat/rain/rain_rate is in 'mm/h'",
    ),
    (
        "a vehicle rule on a Modbus device",
        "{id: r, kind: odol, select: {site: ampal-mufakat, device: wl-radar}}",
        "select.device: ampal-mufakat/wl-radar publish readings, not vehicles: a odol rule watches record",
    ),
]


@pytest.mark.parametrize(("rule", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_rules_that_select_nothing_are_named_with_the_nearest_names(
    rule: str, message: str, catalog: Catalog
) -> None:
    found = problems_of(rule, catalog)
    assert any(message in p for p in found), found


def test_a_misspelt_site_is_reported_without_its_echo_on_devices_and_channels(catalog: Catalog) -> None:
    rule = f"{{id: r, {LEVELS}, select: {{site: ampal-mufakt, device: wl-radar, channel: level}}}}"
    assert problems_of(rule, catalog) == [
        (
            "rules[0] 'r': select.site: no site 'ampal-mufakt' in the site inventory "
            "(did you mean 'ampal-mufakat'?)"
        )
    ]


def test_an_empty_inventory_selects_nothing() -> None:
    empty = Catalog(site_tags={}, devices=(), channels=())
    assert problems_of(f"{{id: r, {QC}}}", empty) == [
        (
            "rules[0] 'r': select: the site inventory is empty (no site files, or no `sites:` in the backend "
            "config): nothing to select"
        )
    ]


TYPO = """\
language: en
rules:
  - id: banjir
    kind: levels
    select: {site: ampal-mufakt, quantity: water_levl}
    levels:
      - {name: Siaga I, trigger: 2.9}
"""


def test_the_error_gives_file_line_column_rule_and_nearest_names(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(TYPO)
    with pytest.raises(ConfigError) as caught:
        load_checked_rules(path, catalog)
    assert str(caught.value).splitlines() == [
        (
            f"{path}:5:14: rules[0] 'banjir': select.site: no site 'ampal-mufakt' in the site inventory "
            "(did you mean 'ampal-mufakat'?)"
        ),
        (
            f"{path}:5:34: rules[0] 'banjir': select.quantity: no channel in the site inventory measures "
            "'water_levl' (did you mean 'water_level' or 'water_column'?)"
        ),
    ]


def test_allow_unmatched_turns_the_problems_into_warnings(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(TYPO.replace("    kind: levels\n", "    kind: levels\n    allow_unmatched: true\n"))
    rules, warnings = load_checked_rules(path, catalog)
    assert [r.id for r in rules.rules] == ["banjir"]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{path}:6:14: rules[0] 'banjir': select.site: no site 'ampal-mufakt'")
    assert warnings[0].endswith("(allow_unmatched: true, so the rule runs anyway)")


def test_the_shipped_rules_select_something_in_the_shipped_sites(catalog: Catalog) -> None:
    _, warnings = load_checked_rules(EXAMPLE, catalog)
    assert warnings == []


# --- pantau rules check --sites ----------------------------------------------------------------------


def test_cli_check_summarises_the_shipped_rules() -> None:
    result = CliRunner().invoke(cli, ["rules", "check", str(EXAMPLE), "--sites", str(SITES)])
    assert result.exit_code == 0, result.output
    assert "11 rules" in result.output


def test_cli_check_fails_on_a_misspelt_site_naming_line_rule_and_nearest(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(TYPO)
    result = CliRunner().invoke(cli, ["rules", "check", str(path), "--sites", str(SITES)])
    assert result.exit_code == 1, result.output
    assert f"{path}:5:14: rules[0] 'banjir': select.site:" in result.output
    assert "did you mean 'ampal-mufakat'?" in result.output
    assert "did you mean 'water_level'" in result.output


def test_cli_check_with_allow_unmatched_warns_and_passes(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(TYPO.replace("    kind: levels\n", "    kind: levels\n    allow_unmatched: true\n"))
    result = CliRunner().invoke(cli, ["rules", "check", str(path), "--sites", str(SITES)])
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: .*rules\.yaml:6:14: rules\[0\] 'banjir': select\.site", result.stderr)


def test_cli_check_needs_the_inventory() -> None:
    result = CliRunner().invoke(cli, ["rules", "check", str(EXAMPLE)])
    assert result.exit_code == 2
    assert "Missing option '--sites'" in result.output


def test_grafana_build_refuses_rules_that_select_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(TYPO)
    arguments = ["grafana", "build", "--check", "--sites", str(SITES), "--rules", str(path)]
    result = CliRunner().invoke(cli, [*arguments, "--out", str(tmp_path / "grafana")])
    assert result.exit_code == 1, result.output
    assert f"{path}:5:14: rules[0] 'banjir': select.site: no site 'ampal-mufakt'" in result.output
