"""A rule kind as the rest of the backend sees it: one registry entry (`KINDS` in `__init__.py`).

Everything kind-specific is reached through the entry: the rules file's model, the evaluator the engine
runs, where Grafana files its alert rules and how it draws the levels, and whether the live page draws
them. Grafana and the API render what an entry describes; they never ask which kind a rule is.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from backend.rules.rule import RuleBase, ThresholdRule
from backend.rules.runner import Runner

#: Grafana's alert rule groups, one evaluation interval each, in the order they are provisioned.
ALERT_GROUPS = ("flood", "data-quality", "odol")
AlertGroup = Literal["flood", "data-quality", "odol"]


@dataclass(frozen=True, slots=True)
class ValueBand:
    """From `start` (None: from the lowest value) upward the value is at a level of `severity` (None: no
    level, all well); a panel colours it by severity."""

    start: float | None
    severity: int | None


@dataclass(frozen=True, slots=True)
class PageLevel:
    name: str
    trigger: float
    clear: float
    severity: int


@dataclass(frozen=True, slots=True)
class PageLevels:
    """A rule's levels as the live page draws them on the chart of each channel the rule selects."""

    direction: Literal["up", "down"]
    unit: str | None
    normal: str
    levels: tuple[PageLevel, ...]


def upward_bands(rule: ThresholdRule) -> list[ValueBand]:
    """The levels as bands on the value the rule judges, worse upward: the default for kinds with levels."""
    return [
        ValueBand(None, None),
        *(ValueBand(level.trigger, rule.level_severity(i)) for i, level in enumerate(rule.levels)),
    ]


def mirrored_bands(rule: ThresholdRule, sign: float) -> list[ValueBand]:
    """The levels counting downward from `sign` x each trigger: below the last (lowest) one is worst."""
    severities = [rule.level_severity(i) for i in range(len(rule.levels))]
    bands = [ValueBand(None, severities[-1])]
    for i in range(len(rule.levels) - 1, -1, -1):
        bands.append(ValueBand(sign * rule.levels[i].trigger, severities[i - 1] if i > 0 else None))
    return bands


@dataclass(frozen=True, slots=True)
class RuleKind:
    """One kind of rule: its model (whose `kind` literal is the registry key) and what it brings."""

    #: The rules file's model of the kind.
    config: type[RuleBase]
    #: The evaluator the engine runs per rule (`Runner.create`); its base class is its part in the engine.
    evaluator: type[Runner[Any, Any]]
    #: The Grafana alert rule group its rules follow the backend's alerts in.
    alert_group: AlertGroup
    #: Alerts link the river dashboard of the gauge site the rule covers (rules on channels of gauges).
    river_dashboard: bool = False
    #: Its levels as bands on the panels showing the value it judges (kinds with levels).
    value_bands: Callable[[Any], list[ValueBand]] = upward_bands
    #: Its levels on the live page's level charts; None: not drawn there.
    page_levels: Callable[[Any], PageLevels] | None = None

    @property
    def name(self) -> str:
        """The `kind:` a rules file writes, from the model's literal."""
        (literal,) = typing.get_args(self.config.model_fields["kind"].annotation)
        return str(literal)
