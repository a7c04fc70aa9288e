"""Threshold rules and alerts (issue #6): one rules file, evaluated on the live stream and in replay.

Pure: no I/O, no MQTT, no storage, no clock of its own. The backend feeds `RuleEngine` contract messages
with the time to consider `now`, stores the QC and ODOL verdicts it returns, and publishes its
`AlertTransition`s (the runtime that does so is `backend.rules_service`). Each rule kind is a folder under
`kinds/` with one line in the registry (`kinds.KINDS`). See README.md for the file format, the semantics
and how to add a kind.

Errors::

    pantau.config.ConfigError   a rules file or data table that cannot be used (file, rule and field named)
    ValueError                  a naive `now`, a bad `source` id, a snapshot of another version
"""

from backend.rules.config import RulesFile, load_rules, validate_rules
from backend.rules.engine import Evaluation, RuleEngine, VehicleEvaluation
from backend.rules.inventory import Inventory, StaticInventory
from backend.rules.kinds.odol.evaluator import OdolVerdict
from backend.rules.kinds.wim_drift.evaluator import DriftUpdate
from backend.rules.quality import QcVerdict

__all__ = [
    "DriftUpdate",
    "Evaluation",
    "Inventory",
    "OdolVerdict",
    "QcVerdict",
    "RuleEngine",
    "RulesFile",
    "StaticInventory",
    "VehicleEvaluation",
    "load_rules",
    "validate_rules",
]
