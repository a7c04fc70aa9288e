"""`kind: wim_drift`: a WIM scale drifting: the rolling median steering-axle load of one truck type
against a reference."""

from __future__ import annotations

from backend.rules.kinds.kind import RuleKind
from backend.rules.kinds.wim_drift.config import WimDriftRule
from backend.rules.kinds.wim_drift.display import value_bands
from backend.rules.kinds.wim_drift.evaluator import WimDriftRunner

KIND = RuleKind(config=WimDriftRule, evaluator=WimDriftRunner, alert_group="odol", value_bands=value_bands)
