"""`pantau rules ...`: check a rules file before the backend loads it; replay it over stored history."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from backend.config import load_backend_config
from backend.inventory import SiteInventory
from backend.rules.config import RULE_KINDS, load_rules
from backend.rules.coverage import load_checked_rules
from backend.rules.engine import RuleEngine
from backend.rules_service.replay import ReplayResult
from backend.rules_service.replay import replay as run_replay
from backend.storage.factory import open_storage
from backend.storage.model import StorageError
from pantau.config import ConfigError, parse_duration
from pantau.contract import encode


@click.group()
def rules() -> None:
    """Threshold rules and alerts: check rules files, replay them over history."""


@rules.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--sites",
    "sites_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of the site files the gateways run from (the backend's `sites:`): every selector must "
    "name sites, devices, channels, quantities and units that are in them.",
)
def check(path: Path, sites_dir: Path) -> None:
    """Validate the rules file PATH against the site inventory in --sites; print its rules per kind, or
    every problem (file:line:column, rule, field, the nearest existing names) and exit 1."""
    try:
        loaded, warnings = load_checked_rules(path, SiteInventory.load(sites_dir).catalog())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    counts: Counter[str] = Counter(rule.kind for rule in loaded.rules)
    click.echo(f"{path}: {len(loaded.rules)} rules, messages in '{loaded.language}'")
    for kind in RULE_KINDS:
        if counts[kind]:
            ids = ", ".join(rule.id for rule in loaded.rules if rule.kind == kind)
            click.echo(f"  {kind:<13} {counts[kind]:>3}  {ids}")


TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


@rules.command()
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("backend.yaml"),
    show_default=True,
    help="The backend config: its storage is read, its `sites` folder is the inventory.",
)
@click.option("--start", type=click.DateTime(TIME_FORMATS), required=True, help="UTC.")
@click.option("--end", type=click.DateTime(TIME_FORMATS), required=True, help="UTC.")
@click.option("--tick", default="1m", show_default=True, help="How often the clock runs between messages.")
@click.option("--json", "as_json", is_flag=True, help="One JSON alert transition per line.")
def replay(
    *, rules_path: Path, config_path: Path, start: datetime, end: datetime, tick: str, as_json: bool
) -> None:
    """Re-run RULES over the stored history in [START, END) and print the transitions it would have
    produced (nothing is stored or published): tune thresholds against past floods."""

    start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
    if start >= end:
        raise click.BadParameter("must be after --start", param_hint="--end")
    try:
        every = parse_duration(tick)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tick") from exc
    if not isinstance(every, timedelta) or every <= timedelta(0):
        raise click.BadParameter(f"{tick!r} is not a positive duration (30s, 1m)", param_hint="--tick")
    try:
        config = load_backend_config(config_path)
        loaded = load_rules(rules_path)
        inventory = SiteInventory.load(config.sites) if config.sites else SiteInventory([])
    except (ConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    engine = RuleEngine(loaded, inventory, "replay")

    async def run() -> ReplayResult:
        storage = open_storage(config.storage)
        try:
            await storage.setup()
            return await run_replay(engine, storage, start, end, every)
        finally:
            await storage.close()

    try:
        result = asyncio.run(run())
    except StorageError as exc:
        raise click.ClickException(f"storage: {exc}") from exc
    for t in result.transitions:
        if as_json:
            click.echo(encode(t).decode())
            continue
        where = "/".join(part for part in (t.site, t.device, t.channel) if part)
        value = "" if t.value is None else f"{t.value:g}{' ' + t.unit if t.unit else ''}"
        click.echo(f"{t.ts.isoformat()}  {t.rule:<20} {where:<32} {t.state:<8} {t.level or '':<16} {value}")
    states = Counter(t.state for t in result.transitions)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none"
    skipped = ", ".join(f"{n} {m}" for m, n in sorted(result.skipped.items()))
    click.echo(
        f"{result.messages} messages replayed, {len(result.transitions)} transitions ({summary})"
        + (f"; skipped unreadable points: {skipped}" if skipped else ""),
        err=as_json,
    )
