"""Where each value of a YAML file was written, so a config error can say `file:line:column`.

PyYAML's `safe_load` forgets positions; composing the same text keeps them on every node. `Marks` maps a
path into the document (`("rules", 2, "select", "site")`, list items by index, mapping entries by key) to
the line and column of the entry's key, or of the item for list items: that is where a technician looks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

Path = tuple[str | int, ...]
_LEADING_FIELD = re.compile(r"^([a-z_][a-z0-9_]*): ")


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based line and column in a file, as editors and compilers count them."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


class Marks:
    """Positions of a document's entries; `at(loc)` answers for the deepest part of `loc` that was written."""

    def __init__(self, table: dict[Path, Mark] | None = None) -> None:
        self._table = table or {}

    @classmethod
    def of(cls, text: str) -> Marks:
        """Positions of `text` (already known to parse: a composing error gives no marks, never raises)."""
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return cls()
        table: dict[Path, Mark] = {}
        if root is not None:
            _walk(root, (), table)
        return cls(table)

    def at(self, loc: Sequence[str | int]) -> Mark | None:
        """The mark of `loc`, or of its nearest written ancestor.

        Parts that are not in the file are stepped over: the tag of a discriminated union in pydantic's
        error locations (`rules.2.levels.select`), or a field that is missing (then its parent is named)."""
        path: Path = ()
        found = self._table.get(path)
        for part in loc:
            for key in (part, str(part)) if isinstance(part, int) else (part,):
                if (*path, key) in self._table:
                    path = (*path, key)
                    found = self._table[path]
                    break
        return found

    def of_problem(self, loc: Sequence[str | int], message: str) -> Mark | None:
        """Where a problem is: a check over a whole entry that blames one of its fields by name
        (`storage: influx: not used with ...`) points at that field, else at `loc`."""
        field = _LEADING_FIELD.match(message)
        return self.at([*loc, field.group(1)] if field else loc)


def _walk(node: yaml.Node, path: Path, table: dict[Path, Mark]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            here = (*path, str(key.value))
            table.setdefault(here, _mark(key))
            _walk(value, here, table)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*path, index)
            table[here] = _mark(item)
            _walk(item, here, table)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def written_path(loc: Sequence[str | int], document: object) -> Path:
    """`loc` as written in the document: without the tags pydantic puts in a discriminated union's error
    locations (`rules.0.levels.treshold` for a rule of `kind: levels` is `rules.0.treshold` in the file;
    the tag is a value there, not a key, even where a key of the same name exists)."""
    path: list[str | int] = []
    node = document
    tag_allowed = True
    for part in loc:
        if isinstance(part, str) and isinstance(node, dict) and tag_allowed and part in node.values():
            tag_allowed = False  # one tag per union; a part after it is a key
            continue
        path.append(part)
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        tag_allowed = True
    return tuple(path)
