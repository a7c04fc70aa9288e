"""How a `levels` rule is drawn: bands on Grafana's panels (mirrored for freeboard, where lower is worse)
and its levels on the live page's charts."""

from __future__ import annotations

from backend.rules.kinds.kind import PageLevel, PageLevels, ValueBand, mirrored_bands, upward_bands
from backend.rules.kinds.levels.config import LevelsRule


def value_bands(rule: LevelsRule) -> list[ValueBand]:
    # Counting downward (freeboard), the triggers descend: below the last (lowest) one is the worst level.
    return upward_bands(rule) if rule.upward else mirrored_bands(rule, 1.0)


def page_levels(rule: LevelsRule) -> PageLevels:
    return PageLevels(
        direction=rule.direction,
        unit=rule.unit,
        normal=rule.normal,
        levels=tuple(
            PageLevel(level.name, level.trigger, level.clear_at, rule.level_severity(i))
            for i, level in enumerate(rule.levels)
        ),
    )
