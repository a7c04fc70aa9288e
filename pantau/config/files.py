"""YAML files -> pydantic models, with errors that name the file, the line, the entry and the field."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pantau.config.positions import Mark, Marks, written_path
from pantau.config.suggest import field_suggestion

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file that cannot be used; the message says where and why, one problem per line.

    With `marks` (one per problem, None where unknown) a line reads `file:line:column: problem`, the form
    editors and terminals jump to; without, `file: problem`."""

    def __init__(self, source: str, problems: list[str], marks: Sequence[Mark | None] | None = None) -> None:
        self.source = source
        self.problems = problems
        self.marks = list(marks) if marks is not None else [None] * len(problems)
        super().__init__(
            "\n".join(
                f"{source}:{mark}: {problem}" if mark else f"{source}: {problem}"
                for problem, mark in zip(problems, self.marks, strict=True)
            )
        )


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML mapping and where each of its entries was written."""

    data: dict[str, Any]
    marks: Marks


def read_yaml(path: Path) -> YamlDocument:
    """Read `path` as a YAML mapping with positions; raises ConfigError naming the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text: {exc}"]) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Mark(mark.line + 1, mark.column + 1) if mark is not None else None
        raise ConfigError(str(path), [f"not valid YAML: {exc}"], [where]) from exc
    if not isinstance(document, dict):
        raise ConfigError(str(path), ["expected a mapping at the top level"])
    return YamlDocument(document, Marks.of(text))


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read `path` as YAML and validate it into `model`; raises ConfigError naming the file and line."""
    document = read_yaml(path)
    return validate_model(document.data, model, source=str(path), marks=document.marks)


def validate_model(
    document: dict[str, Any],
    model: type[M],
    *,
    source: str,
    marks: Marks | None = None,
    entries: str | None = None,
) -> M:
    """Validate an already-parsed document; errors read `source:12:5: devices[2] 'wl-hulu'.type: ...`
    (the line and column when `marks` of the file are given). `entries` names the top-level list whose
    items are what the reader thinks in (a rules file's `rules`): a problem in one reads
    `rules[2] 'rain-1h': window: ...`, the entry set off from the field by a colon."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        problems: list[str] = []
        locs: list[tuple[str | int, ...]] = []
        for error in errors:
            loc, message = tuple(error["loc"]), _plain(error["msg"])
            if not loc:
                loc, message = _named_item(message, document)
            if error["type"] == "extra_forbidden":
                message += field_suggestion(model, loc, document)
            locs.append(loc)
            problems.append(f"{_location(loc, document, entries)}: {message}")
        positions = [
            marks.of_problem(written_path(loc, document), _plain(error["msg"])) if marks else None
            for loc, error in zip(locs, errors, strict=True)
        ]
        raise ConfigError(source, problems, positions) from exc


def _named_item(message: str, document: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    """A whole-document check that names an entry (`channel 'level': ...`): the place of the list item with
    that `id`, and the message without the name it now shows in its place."""
    for name in _QUOTED.findall(message):
        for key, items in document.items():
            if not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                if isinstance(item, dict) and item.get("id") == name:
                    return (key, index), re.sub(rf"^[a-z_]+ '{re.escape(name)}':? ", "", message)
    return (), message


_QUOTED = re.compile(r"'([^']+)'")


def _location(loc: tuple[int | str, ...], document: object, entries: str | None = None) -> str:
    """`devices[2] 'wl-hulu'.channels[0] 'level'.type`: list items are named by their `id`, the tags of
    discriminated unions (`kind: modbus`) left out; an item of `entries` is set off by a colon
    (`rules[2] 'rain-1h': levels[0].trigger`)."""
    text = ""
    node: object = document
    for part in written_path(loc, document):
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                text += f" '{node['id']}'"
            if entries is not None and text.startswith(f"{entries}[") and text.count("[") == 1:
                text += ":"
        else:
            text += f" {part}" if text.endswith(":") else f".{part}" if text else part
            node = node.get(part) if isinstance(node, dict) else None
    return text.removesuffix(":") or "(top level)"


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")
