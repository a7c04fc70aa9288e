"""The `pantau` command. Command groups are registered explicitly in COMMAND_GROUPS, never discovered.

Each group is named by the module that defines it and imported only when it is chosen: a technician's
`pantau gateway check` on a field box loads the site schemas, not FastAPI, the Grafana client or the demo's
broker (and on a `pantau[gateway]` install those are not even there). `pantau --help` imports every group,
so the listing stays complete and each line is the group's own docstring.
"""

from __future__ import annotations

import importlib
import logging
from typing import Final

import click

from pantau import __version__

#: Command name -> "module:attribute" of its click group. Each package contributes its groups; add yours
#: here when it has commands worth running.
COMMAND_GROUPS: Final[dict[str, str]] = {
    "backend": "backend.cli:backend",
    "contract": "pantau.contract.cli:contract",
    "demo": "pantau.demo.cli:demo",
    "gateway": "gateway.cli:gateway",
    "grafana": "backend.grafana.cli:grafana",
    "modbus": "drivers.modbus.cli:modbus",
    "profile": "drivers.modbus.cli:profile",
    "records": "drivers.serial_records.cli:records",
    "rules": "backend.rules.cli:rules",
    "simulate": "drivers.sim.cli:simulate",
}


def load_command(name: str) -> click.Command:
    """The group registered as `name`, imported now (a wrong table entry fails here, named)."""
    module_name, _, attribute = COMMAND_GROUPS[name].partition(":")
    command = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(command, click.Command) or command.name != name:
        raise TypeError(
            f"COMMAND_GROUPS[{name!r}] = {COMMAND_GROUPS[name]!r} is not a click command named {name!r}"
        )
    return command


class LazyGroup(click.Group):
    """A group whose subcommands come from COMMAND_GROUPS, each imported when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click's signature
        return sorted(COMMAND_GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002
        if cmd_name not in COMMAND_GROUPS:
            return None  # click answers "No such command" with the names it knows
        return load_command(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pantau")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="How much to log to stderr.",
)
def cli(log_level: str) -> None:
    """pantau: sensor gateway and time-series backend for flood warning and truck overload (ODOL)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: a backend writing to InfluxDB several times a second would drown
    # the log that technicians read. Its warnings still show.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def main() -> None:
    """Console-script entry point."""
    cli()
