"""The rules-file and site-file loaders under fuzzing: the shipped files with keys dropped and renamed,
values replaced by values of other types, and lines cut or garbled. Whatever the file holds, loading it
(and, for a site, resolving its profiles; for rules, checking them against the shipped sites) gives the
config or a ConfigError whose every line names the file; never another exception."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from backend.inventory import SiteInventory
from backend.rules.config import load_rules
from backend.rules.coverage import load_checked_rules
from gateway.inventory import resolve_site
from pantau.config import ConfigError
from pantau.site.config import load_site
from tests.fuzz.profiles import FUZZ

CONFIGS = Path(__file__).resolve().parents[2] / "firmware_configs"
SITE_FILES = sorted((CONFIGS / "sites").glob("*.yaml"))
RULES_FILE = CONFIGS / "rules" / "balikpapan.yaml"
CATALOG = SiteInventory.load(CONFIGS / "sites").catalog()

other_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "10s", "-1m", "0", "1e400", "nan", "*", "wl-*", "2026-13-01", "\x00"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


def _containers(node: Any) -> list[dict[str, Any] | list[Any]]:
    """Every mapping and list in the document, the document first."""
    found: list[dict[str, Any] | list[Any]] = []
    if isinstance(node, dict | list):
        found.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            found.extend(_containers(child))
    return found


@st.composite
def mutated_yaml(draw: st.DrawFn, path: Path) -> str:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(_containers(document)))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["drop", "retype", "rename"]))
        if action == "drop":
            del target[key]
        elif action == "retype":
            target[key] = draw(other_values)
        elif isinstance(target, dict):
            new_key = draw(
                st.text(max_size=12) | st.sampled_from([k + "x" for k in target if isinstance(k, str)])
            )
            target[new_key] = target.pop(key)
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    if draw(st.booleans()):
        text = _garble_a_line(draw, text)
    return text


def _garble_a_line(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines()
    at = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    action = draw(st.sampled_from(["cut", "repeat", "indent", "insert"]))
    if action == "cut":
        del lines[at]
    elif action == "repeat":
        lines.insert(at, lines[at])
    elif action == "indent":
        lines[at] = " " * draw(st.integers(min_value=1, max_value=3)) + lines[at]
    else:
        lines.insert(
            at, draw(st.sampled_from(["{", "- ]", ": x", "\t", "key: [1, 2", "&a *b", "!!python/none"]))
        )
    return "\n".join(lines) + "\n"


def assert_loads_or_names_the_file(text: str, name: str, load: Callable[[Path], object]) -> None:
    refusal: ConfigError | None = None
    with tempfile.TemporaryDirectory(prefix="pantau-fuzz-") as directory:
        path = Path(directory) / name
        path.write_text(text, encoding="utf-8")
        try:
            load(path)
        except ConfigError as exc:  # anything else escapes and fails the test
            refusal = exc
    if refusal is not None:
        assert refusal.problems, "a ConfigError without problems"
        assert refusal.source == str(path), f"the error names {refusal.source!r}, not the file"
        for problem, mark in zip(refusal.problems, refusal.marks, strict=True):
            assert problem.strip(), "an empty problem"
            # Each problem is printed as `file:line:column: problem` (or `file: problem`).
            printed = f"{path}:{mark}: {problem}" if mark else f"{path}: {problem}"
            assert printed in str(refusal), f"a problem printed without its file: {problem!r}"


def load_and_resolve_site(path: Path) -> None:
    resolve_site(load_site(path), path)


def load_and_check_rules(path: Path) -> None:
    load_rules(path)
    load_checked_rules(path, CATALOG)


def test_the_shipped_files_load() -> None:
    """The seeds are valid, so what the mutations find is the mutation's doing."""
    assert SITE_FILES
    for path in SITE_FILES:
        load_and_resolve_site(path)
    load_and_check_rules(RULES_FILE)


@pytest.mark.parametrize("site_file", SITE_FILES, ids=lambda p: p.stem)
@FUZZ
@given(data=st.data())
def test_a_mutated_site_file_loads_or_is_refused_naming_the_file(
    site_file: Path, data: st.DataObject
) -> None:
    text = data.draw(mutated_yaml(site_file), label="site file")
    assert_loads_or_names_the_file(text, site_file.name, load_and_resolve_site)


@FUZZ
@given(text=mutated_yaml(RULES_FILE))
def test_a_mutated_rules_file_loads_or_is_refused_naming_the_file(text: str) -> None:
    assert_loads_or_names_the_file(text, RULES_FILE.name, load_and_check_rules)
