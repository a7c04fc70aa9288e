"""The rules file: the shipped example loads; bad files fail naming the file, the rule and the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from backend.rules import load_rules
from backend.rules.kinds.levels.config import LevelsRule
from backend.rules.kinds.odol.config import OdolRule
from backend.rules.limits import default_jbi, default_road_classes
from backend.rules.templates import Messages
from pantau.config import ConfigError

EXAMPLE = Path(__file__).parents[3] / "firmware_configs/rules/balikpapan.yaml"


def test_the_shipped_example_loads() -> None:
    loaded = load_rules(EXAMPLE)
    kinds = {rule.kind for rule in loaded.rules}
    assert kinds == {"levels", "rate", "stale", "qc", "accumulation", "odol", "wim_drift"}
    flood = next(r for r in loaded.rules if r.id == "ampal-muka-air")
    assert isinstance(flood, LevelsRule)
    assert [level.name for level in flood.levels] == ["Siaga IV", "Siaga III", "Siaga II", "Siaga I"]
    freeboard = next(r for r in loaded.rules if r.id == "ampal-jagaan")
    assert isinstance(freeboard, LevelsRule) and freeboard.direction == "down"
    odol = next(r for r in loaded.rules if isinstance(r, OdolRule))
    assert odol.road_class is None  # from the inventory


def test_the_data_tables() -> None:
    jbi = default_jbi()
    assert len(jbi.rows) == 7
    assert jbi.jbi_kg("1-2.2-2.2", 10_000) == 40_000
    assert jbi.jbi_kg("1-2.2-2.2", 8_000) == 32_000
    assert jbi.jbi_kg("1-2-2-2", 10_000) is None
    roads = default_road_classes()
    assert roads.max_height_to_width == 1.7
    assert {c: limits.mst_kg for c, limits in roads.classes.items()} == {
        "I": 10_000,
        "II": 8_000,
        "III": 8_000,
    }


LEVELS = {"id": "muka-air", "kind": "levels", "levels": [{"name": "Siaga", "trigger": 2.0}]}


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (
            {**LEVELS, "levels": [{"name": "Siaga II", "trigger": 2.1}, {"name": "Siaga I", "trigger": 1.9}]},
            "rules[0] 'muka-air': levels[1] 'Siaga I': trigger 1.9 must be above 'Siaga II' (2.1)",
        ),
        (
            {
                **LEVELS,
                "direction": "down",
                "levels": [{"name": "A", "trigger": 0.5}, {"name": "B", "trigger": 0.6}],
            },
            "rules[0] 'muka-air': levels[1] 'B': trigger 0.6 must be below 'A' (0.5)",
        ),
        (
            {**LEVELS, "levels": [{"name": "Siaga", "trigger": 2.0, "clear": 2.1}]},
            "levels[0] 'Siaga': clear 2.1 must be at or below its trigger 2.0 (the safe side)",
        ),
        (
            {**LEVELS, "direction": "down", "levels": [{"name": "Siaga", "trigger": 0.5, "clear": 0.4}]},
            "levels[0] 'Siaga': clear 0.4 must be at or above its trigger 0.5 (the safe side)",
        ),
        (
            {**LEVELS, "pending": "5 minutes"},
            "rules[0] 'muka-air': pending: duration '5 minutes' is not like",
        ),
        ({**LEVELS, "levels": []}, "rules[0] 'muka-air': levels: List should have at least 1 item"),
        ({**LEVELS, "treshold": 2}, "rules[0] 'muka-air': treshold: Extra inputs are not permitted"),
        ({**LEVELS, "id": "Muka Air"}, "rules[0] 'Muka Air': id: String should match pattern"),
        (
            {**LEVELS, "message": {"id": "{site}: {levle}", "en": "x"}},
            "rules[0] 'muka-air': message.id: template '{site}: {levle}': unknown placeholder {levle}",
        ),
        (
            {**LEVELS, "message": {"id": "{value:.2q}", "en": "x"}},
            "message.id: template '{value:.2q}': Unknown format code 'q'",
        ),
        (
            {"id": "r", "kind": "rate", "window": "0s", "levels": [{"name": "x", "trigger": 1}]},
            "window: must be positive",
        ),
        (
            {
                "id": "odol",
                "kind": "odol",
                "bands": [{"name": "a", "above_pct": 50}, {"name": "b", "above_pct": 20}],
            },
            "rules[0] 'odol': bands[1] 'b': above_pct 20.0 must be above 'a' (50.0)",
        ),
        (
            {"id": "odol", "kind": "odol", "bands": [{"name": "a", "above_pct": 2}]},
            "bands[0] 'a': above_pct 2.0 is below tolerance_pct 5.0",
        ),
        (
            {"id": "odol", "kind": "odol", "select": {"channel": "x"}},
            "select: vehicle rules select sites and devices",
        ),
        (
            {"id": "odol", "kind": "odol", "jbi": {"1-3": {10000: 1}}},
            "rules[0] 'odol': jbi.1-3.[key]: String should",
        ),
        ({"id": "d", "kind": "wim_drift", "reference_kg": 5400, "window": "3d"}, "window: at least 7d"),
        ({"id": "d", "kind": "wim_drift"}, "rules[0] 'd': reference_kg: Field required"),
        ({"id": "q", "kind": "qc"}, "rules[0] 'q': give at least one test"),
        (
            {"id": "q", "kind": "qc", "flat_line": {"suspect_count": 6, "fail_count": 4}},
            "flat_line: fail_count 4 must be above suspect_count 6",
        ),
        (
            {
                "id": "q",
                "kind": "qc",
                "gross_range": {"fail": {"min": 0, "max": 5}, "suspect": {"min": -1, "max": 4}},
            },
            "gross_range: suspect range must lie within the fail range",
        ),
        (
            {"id": "s", "kind": "stale", "scope": "gateway", "select": {"device": "x"}},
            "select.device: a gateway rule",
        ),
        (
            {
                "id": "a",
                "kind": "accumulation",
                "counter_modulus": 10,
                "levels": [{"name": "x", "trigger": 1}],
            },
            "only for input: counter",
        ),
        (
            {"id": "x", "kind": "thresholds"},
            "rules[0] 'x': Input tag 'thresholds' found using 'kind' does not match",
        ),
        # Settings a rule accepted and then ignored (issue 21): each is refused where it does nothing.
        (
            {"id": "s", "kind": "stale", "scope": "device", "pending": "2m"},
            "rules[0] 's': pending: the grace after an `offline` gateway status applies to scope: gateway",
        ),
        (
            {"id": "s", "kind": "stale", "scope": "gateway", "inhibit_when_gateway_offline": False},
            "inhibit_when_gateway_offline: applies to scope: device only",
        ),
        (
            {"id": "o", "kind": "odol", "check_dimensions": False, "dimension_tolerance_pct": 2},
            "dimension_tolerance_pct: dimensions are not checked (check_dimensions: false)",
        ),
    ],
)
def test_problems_name_the_rule_and_the_field(tmp_path: Path, rule: dict[str, Any], problem: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [rule]}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: ", str(caught.value)), str(caught.value)
    assert problem in str(caught.value), str(caught.value)


def test_duplicate_rule_ids(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: a, kind: stale}\n  - {id: a, kind: stale}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="rule ids must be unique: a"):
        load_rules(path)


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("- a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_rules(path)


def test_messages_render_absent_values_as_a_dash() -> None:
    messages = Messages(id="{site}: {value:.2f} {unit}", en="{site} {level}")
    assert messages.render("id", {"site": "ampal", "value": None, "unit": "m"}) == "ampal: - m"
    assert messages.render("en", {"site": "x" * 300, "level": "Siaga"}).endswith("…")
