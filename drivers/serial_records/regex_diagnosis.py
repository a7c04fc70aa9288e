"""Why a record does not match a regex layout: the field (named group) where matching stops, and where.

A plain `fullmatch` only says yes or no, which leaves a technician comparing a 120-character pattern with a
120-character record by eye. This walks the pattern's top-level named groups in order and matches ever
longer prefixes of the pattern (up to just before a group, then through it) against the record: the first
prefix that no longer matches names the field, and the end of the last prefix that did gives the position.

Only the standard `re` is used (no partial matching there), so the pattern text is scanned for its
top-level groups by hand: escapes, character classes and nesting are honoured; a pattern with a top-level
alternation (`a|b`) has no single order of fields and is not diagnosed (the caller keeps its generic error).
The diagnosis is advice for a person, not a parse: greedy prefixes may take a path the whole pattern would
not, so it names where matching *stops*, which is where to look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: How much of the record, from the failing position, a diagnosis quotes.
QUOTED_CHARS: Final = 24
_GROUP_NAME: Final = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
_QUANTIFIER: Final = re.compile(r"(?:[?*+]|\{\d*,?\d*\})[?+]?")


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where a record stops matching: the field, the character position, and the text found there."""

    field: str
    position: int
    found: str
    problem: str


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    start: int  # index of "(" in the pattern
    end: int  # index just after ")" and any quantifier


def _top_level_groups(pattern: str) -> list[_Group] | None:
    """Named groups at nesting depth 0, in order; None when the pattern alternates at the top level."""
    groups: list[_Group] = []
    stack: list[tuple[int, str | None]] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # `[]...]` and `[^]...]`: a `]` right after the opening is a literal, not the end.
            if pattern[index + 1 : index + 2] == "^":
                index += 1
            if pattern[index + 1 : index + 2] == "]":
                index += 1
        elif char == "(":
            named = _GROUP_NAME.match(pattern, index)
            stack.append((index, named[1] if named else None))
        elif char == ")" and stack:
            start, name = stack.pop()
            if name is not None and not stack:
                quantifier = _QUANTIFIER.match(pattern, index + 1)
                end = quantifier.end() if quantifier else index + 1
                groups.append(_Group(name, start, end))
        elif char == "|" and not stack:
            return None
        index += 1
    return groups


def _prefix_end(pattern: str, text: str) -> int | None:
    try:
        match = re.match(pattern, text)
    except re.error:  # a prefix cut inside a construct the scanner did not foresee: no diagnosis
        return None
    return match.end() if match else None


def diagnose(pattern: str, text: str) -> Mismatch | None:
    """The field at which `text` stops matching `pattern`, or None when that cannot be told."""
    groups = _top_level_groups(pattern)
    if not groups:
        return None
    reached, after = 0, None
    for group in groups:
        before = _prefix_end(pattern[: group.start], text)
        if before is None:
            where = f"after field {after}, before this one" if after else "before this field"
            return _mismatch(group.name, text, reached, where)
        through = _prefix_end(pattern[: group.end], text)
        if through is None:
            part = pattern[group.start : group.end]
            return _mismatch(group.name, text, before, f"this field's part is {part}")
        reached, after = through, group.name
    return _mismatch("record", text, reached, f"after field {after}")


def _mismatch(field: str, text: str, position: int, where: str) -> Mismatch:
    problem = f"does not match the format's pattern at character {position} ({where})"
    return Mismatch(field, position, text[position : position + QUOTED_CHARS], problem)
