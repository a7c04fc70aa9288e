"""`kind: qc`: QARTOD tests on each reading (gross range, spike, flat line); alerts when readings keep
failing."""

from __future__ import annotations

from backend.rules.kinds.kind import RuleKind
from backend.rules.kinds.qc.config import QcRule
from backend.rules.kinds.qc.evaluator import QcRunner

KIND = RuleKind(config=QcRule, evaluator=QcRunner, alert_group="data-quality", river_dashboard=True)
