"""`kind: levels`: ordered alert levels on the reading values (water level; freeboard counting downward)."""

from __future__ import annotations

from backend.rules.kinds.kind import RuleKind
from backend.rules.kinds.levels.config import LevelsRule
from backend.rules.kinds.levels.display import page_levels, value_bands
from backend.rules.kinds.levels.evaluator import LevelsRunner

KIND = RuleKind(
    config=LevelsRule,
    evaluator=LevelsRunner,
    alert_group="flood",
    river_dashboard=True,
    value_bands=value_bands,
    page_levels=page_levels,
)
