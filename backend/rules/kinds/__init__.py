"""The rule kinds: one folder each, one line each in `KINDS` (an explicit dict, no scan of the folders).

A kind's folder holds its rules-file model (`config.py`), its evaluator (`evaluator.py`), how Grafana and
the live page draw it where they do (`display.py`) and its registry entry (`__init__.py`: `KIND`). Adding a
kind is a new folder and one line here: backend/rules/README.md, "Adding a rule kind".

The order is the order of the rules file's union (what an unknown `kind:` is told it may be).
"""

from __future__ import annotations

from typing import Final

from backend.rules.kinds import accumulation, levels, odol, qc, rate, stale, wim_drift
from backend.rules.kinds.kind import RuleKind

KINDS: Final[dict[str, RuleKind]] = {
    "levels": levels.KIND,
    "rate": rate.KIND,
    "accumulation": accumulation.KIND,
    "stale": stale.KIND,
    "qc": qc.KIND,
    "odol": odol.KIND,
    "wim_drift": wim_drift.KIND,
}
