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
