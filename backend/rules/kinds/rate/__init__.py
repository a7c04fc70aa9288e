"""`kind: rate`: rate of rise (or fall) of a channel: a robust slope through the levels machine."""

from __future__ import annotations

from backend.rules.kinds.kind import RuleKind
from backend.rules.kinds.rate.config import RateRule
from backend.rules.kinds.rate.display import value_bands
from backend.rules.kinds.rate.evaluator import RateRunner

KIND = RuleKind(
    config=RateRule, evaluator=RateRunner, alert_group="flood", river_dashboard=True, value_bands=value_bands
)
