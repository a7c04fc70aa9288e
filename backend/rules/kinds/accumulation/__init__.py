"""`kind: accumulation`: rainfall summed over a rolling window, from increments or a running counter."""

from __future__ import annotations

from backend.rules.kinds.accumulation.config import AccumulationRule
from backend.rules.kinds.accumulation.evaluator import AccumulationRunner
from backend.rules.kinds.kind import RuleKind

KIND = RuleKind(
    config=AccumulationRule, evaluator=AccumulationRunner, alert_group="flood", river_dashboard=True
)
