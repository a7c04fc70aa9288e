"""`kind: odol`: overload and over-dimension per vehicle (JBI, MST, road class); alerts on violations
per window."""

from __future__ import annotations

from backend.rules.kinds.kind import RuleKind
from backend.rules.kinds.odol.config import OdolRule
from backend.rules.kinds.odol.evaluator import OdolRunner

KIND = RuleKind(config=OdolRule, evaluator=OdolRunner, alert_group="odol")
