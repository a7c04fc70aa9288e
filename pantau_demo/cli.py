"""`pantau demo`: the whole chain on one machine with nothing but Python (what `make demo` runs)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import click

from pantau.config import ConfigError, parse_duration
from pantau.process import run_until_signalled
from pantau_demo.runner import Demo, DemoOptions, PortBusy


@click.command()
@click.option(
    "--port",
    "api_port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="API (and page) port on 127.0.0.1.",
)
@click.option(
    "--broker",
    "broker_url",
    metavar="URL",
    help="Use this MQTT v5 broker (mqtt://[user@]host[:port]; password in PANTAU_MQTT_PASSWORD) "
    "instead of the embedded one.",
)
@click.option(
    "--mqtt-port",
    type=click.IntRange(0, 65535),
    help="Embedded broker port on 127.0.0.1 (default: 1883, or any free port if 1883 is taken; 0: any).",
)
@click.option(
    "--influx",
    "influx_url",
    metavar="URL",
    help="Store into this InfluxDB 1.x (e.g. http://127.0.0.1:8086, database pantau_demo) instead of SQLite.",
)
@click.option("--duration", metavar="DURATION", help="Stop by itself after this long, e.g. 90s or 10m.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's files and data here (default: a temporary folder, removed on exit).",
)
def demo(
    *,
    api_port: int,
    broker_url: str | None,
    mqtt_port: int | None,
    influx_url: str | None,
    duration: str | None,
    workdir: Path | None,
) -> None:
    """Run simulated Balikpapan sites, the real gateways and backend, rules and API on this machine.

    Two Sungai Ampal gauges and a rain gauge (Modbus RTU on a virtual serial cable, Modbus TCP) go through a
    storm on a compressed timeline; a WIM lane and a weighbridge at Jl. Soekarno-Hatta Km 13 weigh trucks,
    some far over their JBI. Within a minute or two the API has readings, vehicles and alerts.
    """
    seconds = _seconds(duration) if duration else None
    folder = workdir or Path(tempfile.mkdtemp(prefix="pantau-demo-"))
    options = DemoOptions(
        workdir=folder.resolve(),
        api_port=api_port,
        mqtt_port=mqtt_port,
        broker_url=broker_url,
        influx_url=influx_url,
        duration=seconds,
    )
    try:
        asyncio.run(run_until_signalled(Demo(options).run()))
    except (ConfigError, PortBusy) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    click.echo("pantau demo stopped.")


def _seconds(text: str) -> float:
    try:
        value = parse_duration(text)
    except (ValueError, ConfigError) as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from exc
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise click.BadParameter(f"{text!r} is not a positive duration", param_hint="--duration")
    return value.total_seconds()
