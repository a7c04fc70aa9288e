"""The nearest existing names for a misspelt one: `poll_intervall` -> did you mean 'poll_interval'?

Models refuse keys they do not know (`extra="forbid"`); a technician's typo then reads "Extra inputs are not
permitted", true and unhelpful. `field_suggestion` finds the model a misspelt key was written in, following
the error's location through the document (list items, optional and union fields, the tag of a
discriminated union that is a value in the file rather than a key), and names its closest fields.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from pantau.config.positions import written_path


def nearest(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'a' or 'b'?)` for the closest existing names, or nothing when none is close."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)"


def field_suggestion(model: type[BaseModel], loc: Sequence[str | int], document: object) -> str:
    """For an unknown key at `loc` (its last part), the nearest fields of the model it was written in."""
    path = written_path(loc, document)
    if not path or not isinstance(path[-1], str):
        return ""
    return nearest(path[-1], _field_names(_models_at(model, path[:-1], document)))


def _models_at(model: type[BaseModel], path: Sequence[str | int], document: object) -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = {model}
    node = document
    for part in path:
        if isinstance(part, str):
            found = {inner for outer in found for inner in _nested(_field_annotation(outer, part))}
            node = node.get(part) if isinstance(node, dict) else None
        else:  # a list item: its models came with the list's field
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        found = _matching(found, node)
    return found


def _matching(models: set[type[BaseModel]], node: object) -> set[type[BaseModel]]:
    """Of a union's models, those whose tag (a Literal field, `kind: levels`) the written entry has; all of
    them when the entry names none (a typo's neighbours are then looked for in every member)."""
    if len(models) < 2 or not isinstance(node, dict):  # a union has two members or more
        return models
    tagged = {
        model
        for model in models
        if any(
            get_origin(field.annotation) is Literal
            and node.get(field.alias or name) in get_args(field.annotation)
            for name, field in model.model_fields.items()
        )
    }
    return tagged or models


def _field_annotation(model: type[BaseModel], name: str) -> Any:
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias):
            return field.annotation
    return None


def _nested(annotation: Any) -> set[type[BaseModel]]:
    """Every model an annotation can hold: through Optional, unions, lists, tuples and dict values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    origin = get_origin(annotation)
    arguments = get_args(annotation)
    if origin is Annotated:
        return _nested(arguments[0])
    if origin in (Union, types.UnionType, list, tuple, set, frozenset):
        return {model for argument in arguments for model in _nested(argument)}
    if origin is dict and len(arguments) == 2:  # key and value types
        return _nested(arguments[1])
    return set()


def _field_names(models: Iterable[type[BaseModel]]) -> set[str]:
    names: set[str] = set()
    for model in models:
        for name, field in model.model_fields.items():
            names.add(field.alias or name)
    return names
