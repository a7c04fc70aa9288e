"""Where a validation problem is said to be: the one formatter of pantau.config, for every config file."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from pantau.config import ConfigError, validate_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Levels(_Strict):
    kind: Literal["levels"]
    levels: list[float] = Field(min_length=1)


class _Rate(_Strict):
    kind: Literal["rate"]
    window: float = Field(gt=0)


class _Entry(_Strict):
    id: str
    spec: Annotated[_Levels | _Rate, Field(discriminator="kind")]


class _File(_Strict):
    entries: list[_Entry]


def _problem(document: dict[str, object], entries: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_model(document, _File, source="f.yaml", marks=None, entries=entries)
    return str(caught.value)


def test_a_union_tag_that_is_also_a_key_name_is_left_out() -> None:
    # kind: levels with a key `levels`: pydantic's location is spec.levels.levels; the file has spec.levels.
    document = {"entries": [{"id": "a", "spec": {"kind": "levels", "levels": []}}]}
    assert _problem(document) == (
        "f.yaml: entries[0] 'a'.spec.levels: List should have at least 1 item after validation, not 0"
    )


def test_an_entry_of_the_named_list_is_set_off_by_a_colon() -> None:
    document = {"entries": [{"id": "a", "spec": {"kind": "rate", "window": -1}}]}
    assert _problem(document, entries="entries") == (
        "f.yaml: entries[0] 'a': spec.window: Input should be greater than 0"
    )
    assert _problem(document) == "f.yaml: entries[0] 'a'.spec.window: Input should be greater than 0"
