"""The `pantau` command. Command groups are registered explicitly in COMMAND_GROUPS, never discovered."""

from __future__ import annotations

import logging
from typing import Final

import click

from backend.cli import backend
from backend.grafana.cli import grafana
from backend.rules.cli import rules
from drivers.modbus.cli import modbus, profile
from drivers.serial_records.cli import records
from drivers.sim.cli import simulate
from gateway.cli import gateway
from pantau import __version__
from pantau.contract.cli import contract
from pantau.demo.cli import demo

#: Each package contributes its groups; add yours here when it has commands worth running.
COMMAND_GROUPS: Final[tuple[click.Command, ...]] = (
    backend,
    contract,
    demo,
    gateway,
    grafana,
    modbus,
    profile,
    records,
    rules,
    simulate,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for _group in COMMAND_GROUPS:
    cli.add_command(_group)


def main() -> None:
    """Console-script entry point."""
    cli()
