"""The rules file: one list of rules, the single source of truth for the engine and for Grafana.

Each rule has a slug `id` (the `{rule}` level of `{prefix}/alerts/{site}/{rule}/...`), a `kind`, a `select`
(which series), an optional `severity` and `message` templates in Indonesian and English. Cross-field
problems (levels out of order, a clear threshold on the wrong side...) fail at load with the rule named:
`rules.yaml: rules[1] 'muka-air': levels[2] 'Siaga I': trigger 1.9 must be above 'Siaga II' (2.1)`.

The kinds a rule may have are the registry's (`backend/rules/kinds/__init__.py`): `Rule` is the pydantic
union of their models, told apart by `kind`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias, Union

from pydantic import Field, model_validator

from backend.rules.kinds import KINDS
from backend.rules.rule import RuleBase, RulesModel
from pantau.config import ConfigError, Marks, read_yaml, validate_model

if TYPE_CHECKING:
    # The union is built from the registry at run time; to the type checker a rule is what every kind has
    # (code that needs a kind's own fields narrows with isinstance on that kind's model).
    Rule: TypeAlias = RuleBase
else:
    Rule = Annotated[Union[tuple(kind.config for kind in KINDS.values())], Field(discriminator="kind")]  # noqa: UP007
RULE_KINDS: Final = tuple(KINDS)


class RulesFile(RulesModel):
    """The whole rules file."""

    language: Literal["id", "en"] = Field(default="id", description="Language of alert messages on MQTT")
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> RulesFile:
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        return self


def load_rules(path: Path) -> RulesFile:
    """Read and validate a rules file; ConfigError naming the file, the line, the rule and the field."""
    return read_rules(path)[0]


def read_rules(path: Path) -> tuple[RulesFile, Marks]:
    """`load_rules` with where each entry was written, for checks after loading (against the inventory)."""
    document = read_yaml(path)
    if not isinstance(document.data.get("rules", []), list):
        raise ConfigError(str(path), ["rules: must be a list of rules"], [document.marks.at(["rules"])])
    return validate_rules(document.data, source=str(path), marks=document.marks), document.marks


def validate_rules(document: dict[str, Any], *, source: str, marks: Marks | None = None) -> RulesFile:
    """Validate a parsed rules document; problems read `source:12:5: rules[2] 'rain-1h': window: ...`."""
    return validate_model(document, RulesFile, source=source, marks=marks, entries="rules")
