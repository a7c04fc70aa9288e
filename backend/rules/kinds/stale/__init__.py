"""`kind: stale`: no good reading from a device for a while; or a gateway offline or silent."""

from __future__ import annotations

from backend.rules.kinds.kind import RuleKind
from backend.rules.kinds.stale.config import StaleRule
from backend.rules.kinds.stale.evaluator import StaleRunner

KIND = RuleKind(config=StaleRule, evaluator=StaleRunner, alert_group="data-quality")
