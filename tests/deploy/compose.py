"""Reading docker-compose.yml the way `docker compose` does, as far as the tests need: YAML with merge keys
(`<<: *anchor`), `${VAR:?message}` / `${VAR:-default}` references, bind mounts relative to the file.
Docker itself cannot run on the development machines, so the structure is what can be checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click
import yaml

from pantau.cli import cli

REPO: Final = Path(__file__).resolve().parents[2]
COMPOSE: Final = REPO / "docker-compose.yml"
DEPLOY: Final = REPO / "backend" / "deploy" / "compose"
VARIABLE: Final = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:?[?-])([^}]*))?\}")


def load() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load()["services"]
    return found


def variables(text: str) -> set[str]:
    """Every ${VAR} a text refers to (a `$${...}` escape is not a reference)."""
    return {m.group(1) for m in VARIABLE.finditer(text) if text[max(0, m.start() - 1)] != "$"}


@dataclass(frozen=True)
class Bind:
    source: Path
    target: str
    read_only: bool


def binds(service: dict[str, Any]) -> list[Bind]:
    """The service's bind mounts (`./path:/target[:ro]`), sources resolved against the compose file."""
    found = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith("."):
            found.append(Bind((COMPOSE.parent / source).resolve(), target, mode == ["ro"]))
    return found


def named_volumes(service: dict[str, Any]) -> list[str]:
    return [v.split(":")[0] for v in service.get("volumes", []) if not v.startswith(".")]


def command_of(args: list[str]) -> tuple[click.Command, list[str]]:
    """The pantau click command `args` name, and the arguments left for it."""
    command: click.Command = cli
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"pantau has no command {' '.join(args[: len(args) - len(rest) + 1])!r}"
        command, rest = sub, rest[1:]
    return command, rest


def unknown_options(command: click.Command, args: list[str]) -> list[str]:
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    known |= {"-h", "--help"}
    return [a.split("=")[0] for a in args if a.startswith("-") and a.split("=")[0] not in known]
