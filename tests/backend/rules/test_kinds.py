"""The rule-kind registry: one entry per kind, the rules file's union and every consumer built from it."""

from __future__ import annotations

import typing

import pytest

from backend.rules.config import RULE_KINDS, RulesFile, validate_rules
from backend.rules.kinds import KINDS
from backend.rules.kinds.kind import ALERT_GROUPS
from backend.rules.runner import Runner
from pantau.config import ConfigError


def test_each_entry_is_keyed_by_the_kind_its_model_declares() -> None:
    assert {key: kind.name for key, kind in KINDS.items()} == {key: key for key in KINDS}
    assert tuple(KINDS) == RULE_KINDS


def test_the_rules_file_union_is_the_registry() -> None:
    rules = RulesFile.model_fields["rules"].annotation
    (rule,) = typing.get_args(rules)
    union, *_ = typing.get_args(rule)
    assert list(typing.get_args(union)) == [kind.config for kind in KINDS.values()]


def test_each_entry_brings_an_evaluator_and_a_grafana_group() -> None:
    for kind in KINDS.values():
        assert issubclass(kind.evaluator, Runner)
        assert kind.alert_group in ALERT_GROUPS


def test_an_unknown_kind_is_told_the_registry_in_order() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_rules({"rules": [{"id": "a", "kind": "levelz"}]}, source="r.yaml")
    expected = ", ".join(f"'{name}'" for name in KINDS)
    assert str(caught.value) == (
        "r.yaml: rules[0] 'a': Input tag 'levelz' found using 'kind' does not match any of the "
        f"expected tags: {expected}"
    )


LEVELS = [{"name": "a", "trigger": 1.0, "severity": 1}, {"name": "b", "trigger": 2.0, "severity": 4}]


@pytest.mark.parametrize(
    ("rule", "bands"),
    [
        ({"kind": "levels", "levels": LEVELS}, [(None, None), (1.0, 1), (2.0, 4)]),
        (
            # Freeboard: the triggers descend and below the lowest is worst.
            {
                "kind": "levels",
                "direction": "down",
                "levels": [{**LEVELS[0], "trigger": 2.0}, LEVELS[1] | {"trigger": 1.0}],
            },
            [(None, 4), (1.0, 1), (2.0, None)],
        ),
        ({"kind": "rate", "levels": LEVELS}, [(None, None), (1.0, 1), (2.0, 4)]),
        # The panel shows the signed rate: a fall's levels lie below zero.
        ({"kind": "rate", "change": "fall", "levels": LEVELS}, [(None, 4), (-2.0, 1), (-1.0, None)]),
        ({"kind": "accumulation", "levels": LEVELS}, [(None, None), (1.0, 1), (2.0, 4)]),
        ({"kind": "odol", "levels": LEVELS}, [(None, None), (1.0, 1), (2.0, 4)]),
        # |drift| is judged: the levels stand on both sides of zero.
        (
            {"kind": "wim_drift", "reference_kg": 5_000, "levels": LEVELS},
            [(None, 4), (-2.0, 1), (-1.0, None), (1.0, 1), (2.0, 4)],
        ),
    ],
)
def test_each_kind_lays_out_its_bands(
    rule: dict[str, object], bands: list[tuple[float | None, int | None]]
) -> None:
    loaded = validate_rules({"rules": [{"id": "r", **rule}]}, source="r.yaml").rules[0]
    assert [(band.start, band.severity) for band in KINDS[loaded.kind].value_bands(loaded)] == bands


def test_only_levels_rules_are_drawn_on_the_page() -> None:
    assert [name for name, kind in KINDS.items() if kind.page_levels is not None] == ["levels"]
