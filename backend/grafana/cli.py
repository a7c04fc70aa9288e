"""`pantau grafana build|push`: generate `grafana/` from the site inventory and the rules file; sync it into
a running Grafana."""

from __future__ import annotations

import os
from pathlib import Path

import click

from backend.grafana import GrafanaError
from backend.grafana.build import Build, differences, write
from backend.grafana.scope import Scope
from pantau.config import ConfigError

_SITES = click.option(
    "--sites",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("firmware_configs/sites"),
    show_default=True,
    help="Folder of site files (the inventory the gateways run from).",
)
_RULES = click.option(
    "--rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("firmware_configs/rules/balikpapan.yaml"),
    show_default=True,
    help="The rules file the backend evaluates.",
)


@click.group()
def grafana() -> None:
    """Grafana: dashboards, provisioning and alert rules generated from the sites and the rules file."""


def _build(sites: Path, rules: Path) -> Build:
    try:
        return Build.of(Scope.load(sites, rules))
    except (ConfigError, GrafanaError) as exc:
        raise click.ClickException(str(exc)) from exc


@grafana.command()
@_SITES
@_RULES
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("grafana"),
    show_default=True,
    help="Where the generated files go (committed).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the files under --out are stale.")
def build(sites: Path, rules: Path, out: Path, *, check: bool) -> None:
    """Regenerate provisioning, dashboards and alert rules under --out."""
    files = _build(sites, rules).files()
    if check:
        stale = differences(files, out)
        for line in stale:
            click.echo(line)
        if stale:
            raise click.ClickException(f"{out} is stale: run `pantau grafana build`")
        click.echo(f"{out}: {len(files)} generated files up to date")
        return
    changes = write(files, out)
    for line in changes:
        click.echo(line)
    click.echo(f"{out}: {len(files)} generated files, {len(changes)} changed")


@grafana.command(name="push")
@_SITES
@_RULES
@click.option("--url", required=True, help="Grafana base URL, e.g. http://127.0.0.1:3000")
@click.option(
    "--token", envvar="GRAFANA_TOKEN", required=True, help="Service account token [env GRAFANA_TOKEN]"
)
@click.option("--influx-url", required=True, help="InfluxDB URL as Grafana's server reaches it")
@click.option("--influx-user", default="", help="InfluxDB 1.x user (2.x/3.x: any name)")
@click.option(
    "--influx-password-env",
    default="PANTAU_INFLUX_PASSWORD",
    show_default=True,
    help="Environment variable holding the InfluxDB password (2.x/3.x: an API token)",
)
@click.option(
    "--webhook-url",
    envvar="PANTAU_ALERT_WEBHOOK_URL",
    default=None,
    help="Contact point webhook; without it no contact point or policy is pushed "
    "[env PANTAU_ALERT_WEBHOOK_URL]",
)
def push_command(  # noqa: PLR0917 - click passes every option as an argument
    sites: Path,
    rules: Path,
    url: str,
    token: str,
    influx_url: str,
    influx_user: str,
    influx_password_env: str,
    webhook_url: str | None,
) -> None:
    """Create or update the datasource, folder, dashboards and alerting in a running Grafana."""
    # Only push talks to Grafana: `grafana build` (make grafana, CI's staleness check) loads no client.
    from backend.grafana.push import Target, push  # noqa: PLC0415

    target = Target(
        url=url,
        token=token,
        influx_url=influx_url,
        influx_user=influx_user,
        influx_password=os.environ.get(influx_password_env, ""),
        webhook_url=webhook_url,
    )
    try:
        done = push(_build(sites, rules), target)
    except GrafanaError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in done:
        click.echo(line)
