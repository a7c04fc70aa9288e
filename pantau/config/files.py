"""YAML files -> pydantic models, with errors that name the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file that cannot be used; the message says where and why, one problem per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read `path` as YAML and validate it into `model`; raises ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text: {exc}"]) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from exc
    if not isinstance(document, dict):
        raise ConfigError(str(path), ["expected a mapping at the top level"])
    return validate_model(document, model, source=str(path))


def validate_model(document: dict[str, Any], model: type[M], *, source: str) -> M:
    """Validate an already-parsed document; errors read `source: devices[2] 'wl-hulu': type: ...`."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{_location(error['loc'], document)}: {_plain(error['msg'])}"
            for error in exc.errors(include_url=False, include_context=False)
        ]
        raise ConfigError(source, problems) from exc


def _location(loc: tuple[int | str, ...], document: object) -> str:
    """`devices[2] 'wl-hulu'.channels[0] 'level'.type`: list items are named by their `id`."""
    text = ""
    node: object = document
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                text += f" '{node['id']}'"
        else:
            if isinstance(node, dict) and part not in node and part in node.values():
                continue  # the tag of a discriminated union (`kind: modbus`), not a field
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(top level)"


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")
