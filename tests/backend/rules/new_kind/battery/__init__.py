"""`kind: battery`: a field box's supply voltage falling through levels."""

# The folder is copied into backend/rules/kinds/ by test_new_kind.py; here, ruff cannot tell that
# backend.rules.kinds.battery is first-party.
# ruff: noqa: I001

from __future__ import annotations

from backend.rules.kinds.battery.config import BatteryRule
from backend.rules.kinds.battery.evaluator import BatteryRunner
from backend.rules.kinds.kind import RuleKind, mirrored_bands

KIND = RuleKind(
    config=BatteryRule,
    evaluator=BatteryRunner,
    alert_group="data-quality",
    value_bands=lambda rule: mirrored_bands(rule, 1.0),
)
