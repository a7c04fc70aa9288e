"""`pantau rules ...`: check a rules file before the backend loads it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from backend.rules.config import RULE_KINDS, load_rules
from pantau.config import ConfigError


@click.group()
def rules() -> None:
    """Threshold rules and alerts: check rules files."""


@rules.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Validate the rules file PATH; print its rules per kind, or the problems and exit 1."""
    try:
        loaded = load_rules(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    counts: Counter[str] = Counter(rule.kind for rule in loaded.rules)
    click.echo(f"{path}: {len(loaded.rules)} rules, messages in '{loaded.language}'")
    for kind in RULE_KINDS:
        if counts[kind]:
            ids = ", ".join(rule.id for rule in loaded.rules if rule.kind == kind)
            click.echo(f"  {kind:<13} {counts[kind]:>3}  {ids}")
