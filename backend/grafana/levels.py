"""Threshold bands from the rules file: the same triggers the engine alerts on, drawn on the panels.

Colours follow severity (the rules file's, 0-10), so Siaga I is darker than Siaga IV on every panel and
the map. Where the bands lie is the kind's to say (`display.py` in its folder under backend/rules/kinds/):
levels counting downward (freeboard) get them mirrored, below the lowest trigger is worst.
"""

from __future__ import annotations

from typing import Final

from backend.grafana.model import Step
from backend.rules.kinds import KINDS
from backend.rules.rule import ThresholdRule

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
    """The rule's levels as threshold steps on the value the rule judges, as its kind lays them out."""
    return [
        Step(band.start, OK_COLOR if band.severity is None else severity_color(band.severity))
        for band in KINDS[rule.kind].value_bands(rule)
    ]
