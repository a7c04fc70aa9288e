"""Alert message templates (`message: {id: ..., en: ...}`): placeholders checked at load, rendered per alert.

A template is a Python format string over a fixed set of names, so a typo (`{levle}`) or a bad format spec
(`{value:.2q}`) fails when the rules file is loaded, not when the river is rising.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Every name a template may use; values absent for an alert render as "-".
PLACEHOLDERS: Final = frozenset(
    {
        "rule",
        "site",
        "device",
        "channel",
        "level",
        "state",
        "severity",
        "value",
        "threshold",
        "unit",
        "detail",
    }
)
_SAMPLE: Final = {
    "rule": "rule",
    "site": "site",
    "device": "device",
    "channel": "channel",
    "level": "Siaga II",
    "state": "firing",
    "severity": 2,
    "value": 1.5,
    "threshold": 1.2,
    "unit": "m",
    "detail": "detail",
}
#: Longest message the contract carries (`ShortText`).
MAX_MESSAGE: Final = 256


class _Absent:
    """Stands in for a value an alert does not have: any format spec renders it as '-'."""

    def __format__(self, spec: str) -> str:
        return "-"


def check_template(template: str) -> str:
    """Return `template` if it only uses known placeholders with valid format specs; else raise ValueError."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"template {template!r}: {exc}") from exc
    for name in names:
        if name not in PLACEHOLDERS:
            known = ", ".join(sorted(PLACEHOLDERS))
            raise ValueError(f"template {template!r}: unknown placeholder {{{name}}} (known: {known})")
    try:
        template.format_map(_SAMPLE)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"template {template!r}: {exc}") from exc
    return template


class Messages(BaseModel):
    """The alert text in Indonesian (`id`) and English (`en`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=MAX_MESSAGE)
    en: str = Field(min_length=1, max_length=MAX_MESSAGE)

    @field_validator("id", "en")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        return check_template(value)

    def render(self, language: str, values: Mapping[str, object]) -> str:
        """The message in `language` (`id` or `en`), cut to what the contract carries."""
        template = self.id if language == "id" else self.en
        filled = {name: _ABSENT if values.get(name) is None else values[name] for name in PLACEHOLDERS}
        text = template.format_map(filled)
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


_ABSENT: Final = _Absent()
