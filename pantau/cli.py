"""The `pantau` command. Command groups are registered explicitly in COMMAND_GROUPS, never discovered.

Each group is named by the module that defines it and imported only when it is chosen: a technician's
`pantau gateway check` on a field box loads the site schemas, not FastAPI, the Grafana client or the demo's
broker (and on a `pantau[gateway]` install those are not even there). `pantau --help` imports every group,
so the listing stays complete and each line is the group's own docstring.
"""

from __future__ import annotations

import importlib
import logging
from typing import Final, NamedTuple

import click

from pantau import __version__


#: Where a group's command lives ("module:attribute") and the extra that installs what it imports (None:
#: the base install has it).
class Entry(NamedTuple):
    path: str
    extra: str | None


#: Command name -> its entry. Each package contributes its groups; add yours here when it has commands
#: worth running.
COMMAND_GROUPS: Final[dict[str, Entry]] = {
    "backend": Entry("backend.cli:backend", "backend"),
    "contract": Entry("pantau.contract.cli:contract", None),
    "demo": Entry("pantau_demo.cli:demo", "demo"),
    "gateway": Entry("gateway.cli:gateway", "gateway"),
    "grafana": Entry("backend.grafana.cli:grafana", "backend"),
    "modbus": Entry("drivers.modbus.cli:modbus", "gateway"),
    "profile": Entry("drivers.modbus.cli:profile", "gateway"),
    "records": Entry("drivers.serial_records.cli:records", "gateway"),
    "rules": Entry("backend.rules_service.cli:rules", "backend"),
    "simulate": Entry("drivers.sim.cli:simulate", "gateway"),
}

#: pantau's own packages: one of them missing is a broken install, not an extra left out.
OWN_PACKAGES: Final = frozenset(
    {"pantau", "pantau_demo", "gateway", "drivers", "backend", "firmware_configs"}
)


class MissingExtra(click.ClickException):
    """A group imports a library of an extra this install left out (a gateway box has no FastAPI)."""


def load_command(name: str) -> click.Command:
    """The group registered as `name`, imported now (a wrong table entry fails here, named).

    Raises MissingExtra when the group needs a library that is not installed and its extra would bring.
    """
    entry = COMMAND_GROUPS[name]
    module_name, _, attribute = entry.path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if entry.extra is None or not missing or missing in OWN_PACKAGES:
            raise
        raise MissingExtra(
            f"pantau {name} needs the {entry.extra} extra, not installed here (no module {missing!r}): "
            f"pip install 'pantau[{entry.extra}]'"
        ) from exc
    command = getattr(module, attribute, None)
    if not isinstance(command, click.Command) or command.name != name:
        raise TypeError(f"COMMAND_GROUPS[{name!r}] = {entry.path!r} is not a click command named {name!r}")
    return command


def not_installed(name: str, error: MissingExtra) -> click.Command:
    """Stands in for a group whose extra is missing: listed in --help with the install line, and every
    use of it fails with that line instead of a traceback."""

    def refuse() -> None:
        raise error

    return click.Command(
        name,
        callback=refuse,
        help=error.message,
        short_help=f"(not installed: pip install 'pantau[{COMMAND_GROUPS[name].extra}]')",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class LazyGroup(click.Group):
    """A group whose subcommands come from COMMAND_GROUPS, each imported when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click's signature
        return sorted(COMMAND_GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002
        if cmd_name not in COMMAND_GROUPS:
            return None  # click answers "No such command" with the names it knows
        try:
            return load_command(cmd_name)
        except MissingExtra as exc:
            return not_installed(cmd_name, exc)


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
