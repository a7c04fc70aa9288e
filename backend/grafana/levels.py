"""Threshold bands from the rules file: the same triggers the engine alerts on, drawn on the panels.

Colours follow severity (the rules file's, 0-10), so Siaga I is darker than Siaga IV on every panel and
the map. Levels counting downward (freeboard) get their bands mirrored: below the lowest trigger is worst.
"""

from __future__ import annotations

from typing import Final

from backend.grafana.model import Step
from backend.rules.config import LevelsRule, RateRule, ThresholdRule, WimDriftRule

OK_COLOR: Final = "green"
#: Upper severity bound -> colour (Grafana named colours).
_SEVERITY_COLORS: Final = ((1, "#EAB839"), (3, "orange"), (5, "red"), (10, "dark-red"))


def severity_color(severity: int) -> str:
    for upper, color in _SEVERITY_COLORS:
        if severity <= upper:
            return color
    return _SEVERITY_COLORS[-1][1]


def severity_steps(max_severity: int = 10) -> list[Step]:
    """Bands over the severity number itself (the city map, alert tables): 0 = no alert."""
    steps = [Step(None, OK_COLOR)]
    lower = 1
    for upper, color in _SEVERITY_COLORS:
        if lower <= max_severity:
            steps.append(Step(float(lower), color))
        lower = upper + 1
    return steps


def rule_steps(rule: ThresholdRule) -> list[Step]:
    """The rule's levels as threshold steps on the value the rule judges."""
    colors = [severity_color(rule.level_severity(i)) for i in range(len(rule.levels))]
    triggers = [level.trigger for level in rule.levels]
    if isinstance(rule, LevelsRule) and not rule.upward:
        # Triggers descend; below the last (lowest) one is the worst level.
        steps = [Step(None, colors[-1])]
        for i in range(len(triggers) - 1, -1, -1):
            steps.append(Step(triggers[i], colors[i - 1] if i > 0 else OK_COLOR))
        return steps
    if isinstance(rule, RateRule) and rule.change == "fall":
        # The panel shows the signed rate: a fall is negative, its levels mirrored below zero.
        steps = [Step(None, colors[-1])]
        for i in range(len(triggers) - 1, -1, -1):
            steps.append(Step(-triggers[i], colors[i - 1] if i > 0 else OK_COLOR))
        return steps
    if isinstance(rule, WimDriftRule):
        # The engine judges |drift|: a scale reading light is as wrong as one reading heavy.
        steps = [Step(None, colors[-1])]
        for i in range(len(triggers) - 1, -1, -1):
            steps.append(Step(-triggers[i], colors[i - 1] if i > 0 else OK_COLOR))
        steps.extend(Step(t, c) for t, c in zip(triggers, colors, strict=True))
        return steps
    return [Step(None, OK_COLOR), *(Step(t, c) for t, c in zip(triggers, colors, strict=True))]
