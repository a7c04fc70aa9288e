"""`pantau gateway run|check|status|dead-letters`: run a site's gateway, validate its config, see its health,
deal with the messages the broker refused."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway.inventory import build_bus, resolve_site
from pantau.config import ConfigError
from pantau.process import parse_address, run_until_signalled
from pantau.site.config import SiteConfig, load_site
from pantau.site.resolve import ResolvedBus, ResolvedModbusBus, notes

if TYPE_CHECKING:
    from gateway.outbox import Outbox

# `check` is what a technician runs most, often on a slow box: it needs the site schemas only. What the
# other commands need (the runtime with its MQTT client, the outbox, the Modbus tools) is imported
# inside them, so `check` does not pay for it.

CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Site file, e.g. firmware_configs/sites/ampal-mufakat.yaml.",
)

OUTBOX = click.option(
    "--outbox",
    "outbox_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Override the outbox file of the site config.",
)


@click.group()
def gateway() -> None:
    """The field gateway: poll devices, keep every reading, publish to MQTT."""


def _load(config_path: Path) -> tuple[SiteConfig, list[ResolvedBus]]:
    try:
        site = load_site(config_path)
        return site, resolve_site(site, config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@gateway.command()
@CONFIG
@click.option("--probe", is_flag=True, help="Also read every device once and show what it returns.")
def check(config_path: Path, probe: bool) -> None:  # noqa: FBT001 - click flag
    """Validate a site file (and with --probe, the wiring): errors name the file, bus, device and field."""
    site, buses = _load(config_path)
    devices = site.devices()
    click.echo(
        f"{config_path}: ok — site {site.site} ({site.name}), gateway {site.gateway}, "
        f"{len(buses)} bus(es), {len(devices)} device(s)"
    )
    for note in notes(buses):
        click.echo(click.style("note: ", fg="yellow") + note)
    if probe:
        failed = asyncio.run(_probe(buses))
        if failed:
            raise SystemExit(1)


async def _probe(buses: list[ResolvedBus]) -> int:
    from drivers.modbus.cli import print_readings  # noqa: PLC0415 - only --probe prints readings

    failed = 0
    for resolved in buses:
        if not isinstance(resolved, ResolvedModbusBus):
            click.echo(f"\n{resolved.spec.id}: record stream — probe it with the records tools")
            continue
        bus, devices = build_bus(resolved)
        click.echo(f"\n{resolved.spec.id} ({bus.describe})")
        try:
            for device, config in zip(devices, resolved.devices, strict=True):
                result = await device.poll()
                click.echo(
                    f"\n  {config.config.id}: {device.profile.id} unit {device.unit_id}, "
                    f"{result.requests} request(s), {result.duration_s * 1000:.0f} ms"
                )
                print_readings(result.readings, as_json=False)
                failed += result.failed_requests > 0
        finally:
            await bus.close()
    return failed


@gateway.command()
@CONFIG
@OUTBOX
@click.option(
    "--metrics", default="127.0.0.1:9108", show_default=True, help="Prometheus endpoint HOST:PORT, or 'off'."
)
def run(config_path: Path, outbox_path: Path | None, metrics: str) -> None:
    """Run the gateway until SIGTERM/Ctrl-C (then it flushes and publishes `offline`)."""
    from gateway.runtime import Gateway, RuntimeOptions  # noqa: PLC0415 - see the imports above

    site, _buses = _load(config_path)
    options = RuntimeOptions(outbox_path=outbox_path, metrics_address=parse_address(metrics, "--metrics"))
    try:
        runtime = Gateway(site, config_path, options)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    asyncio.run(run_until_signalled(runtime.run()))


@gateway.command()
@CONFIG
@click.option(
    "--metrics", default="127.0.0.1:9108", show_default=True, help="Where the running gateway serves metrics."
)
def status(config_path: Path, metrics: str) -> None:
    """Health of the gateway on this box: outbox, broker connection, devices."""
    site, _buses = _load(config_path)
    text = _scrape(parse_address(metrics, "--metrics"))
    if not text:
        click.echo(f"gateway {site.gateway}: no metrics at {metrics} (not running?)")
        _offline_status(site)
        return
    values = _parse_metrics(text)
    click.echo(
        f"gateway {site.gateway} at {site.site}: broker "
        + ("connected" if values.get("pantau_mqtt_connected") == 1 else click.style("DISCONNECTED", fg="red"))
    )
    click.echo(
        f"  outbox: {values.get('pantau_outbox_depth', 0):.0f} queued, oldest "
        f"{values.get('pantau_outbox_oldest_age_seconds', 0):.0f} s, "
        f"{values.get('pantau_outbox_dropped_total', 0):.0f} dropped"
    )
    _echo_dead_letters(int(values.get("pantau_outbox_dead_letters", 0)))
    click.echo(f"  published: {values.get('pantau_mqtt_published_total', 0):.0f} messages")
    _echo_clock(values)
    for key, value in sorted(values.items()):
        if key.startswith("pantau_device_up{"):
            state = {1.0: "ok", 0.5: "degraded"}.get(value, click.style("failing", fg="red"))
            device = key.split('device="')[1].split('"')[0]
            click.echo(f"  device {device}: {state}")
        if key.startswith("pantau_stream_connected{"):
            labels = key[key.index("{") :]
            link = "connected" if value == 1 else click.style("LINK DOWN", fg="red")
            device = key.split('device="')[1].split('"')[0]
            records = values.get(f"pantau_stream_records_total{labels}", 0)
            malformed = values.get(f"pantau_stream_malformed_total{labels}", 0)
            checksum = values.get(f"pantau_stream_checksum_failures_total{labels}", 0)
            click.echo(
                f"  stream {device}: {link}, {records:.0f} records, {malformed:.0f} malformed "
                f"({checksum:.0f} checksum failures)"
            )


def _scrape(address: tuple[str, int] | None) -> str:
    """The running gateway's metrics page, or "" when nothing answers there. The standard library's HTTP
    client: a field box installs `pantau[gateway]`, which has no httpx."""
    if address is None:
        return ""
    # Here, not at the top: `gateway run` would carry urllib and http (2 MB) for a command it never runs.
    import http.client  # noqa: PLC0415 - see above
    import urllib.request  # noqa: PLC0415 - see above

    url = f"http://{address[0]}:{address[1]}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return str(response.read().decode())
    except (OSError, http.client.HTTPException, UnicodeDecodeError):  # refused, timed out, not a metrics page
        return ""


def _offline_status(site: SiteConfig) -> None:
    from gateway.outbox import Outbox  # noqa: PLC0415 - see the imports above

    if site.outbox.path.exists():
        state = Outbox(site.outbox.path).state()
        click.echo(
            f"  outbox {site.outbox.path}: {state.depth} queued, {state.awaiting_receipt} awaiting the "
            f"backend's receipt, {state.dropped_total} dropped, next sequence number {state.next_seq}"
        )
        _echo_dead_letters(state.dead_letters)


def _echo_clock(values: dict[str, float]) -> None:
    """The gateway's verdict on its wall clock (gateway/clock_sanity.py), from its metric's reason label."""
    for key, value in values.items():
        if key.startswith("pantau_clock_plausible{"):
            reason = key.split('reason="')[1].split('"')[0] if 'reason="' in key else ""
            if value == 1:
                click.echo("  clock: plausible")
            else:
                why = f"IMPLAUSIBLE ({reason}): readings and vehicles go out as clock_skew"
                click.echo("  clock: " + click.style(why, fg="red"))
            step = values.get("pantau_clock_last_step_seconds")
            if step is not None:
                click.echo(f"  clock: last stepped {step:+.0f} s")


def _echo_dead_letters(count: int) -> None:
    if count:
        click.echo(
            click.style(f"  dead letters: {count}", fg="red")
            + " refused by the broker (see `pantau gateway dead-letters --config ...`)"
        )
    else:
        click.echo("  dead letters: 0")


def _seqs(value: str | None) -> list[int] | None:
    """`all` -> None (every dead letter); `3,7` -> [3, 7]."""
    if value is None or value == "all":
        return None
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not SEQ[,SEQ...] or 'all'") from None


@gateway.command("dead-letters")
@CONFIG
@OUTBOX
@click.option("--requeue", metavar="SEQ[,SEQ...]|all", help="Put them back at the head of the queue.")
@click.option("--drop", metavar="SEQ[,SEQ...]|all", help="Delete them (counted as dropped).")
def dead_letters(config_path: Path, outbox_path: Path | None, requeue: str | None, drop: str | None) -> None:
    """Messages the broker refused `mqtt.dead_letter_after` times: list, re-queue (after fixing the broker's
    ACL) or drop them. Safe while the gateway runs: each change is one SQLite transaction on the outbox
    file, and the running gateway sends re-queued messages within a few seconds, with their own numbers."""
    if requeue is not None and drop is not None:
        raise click.UsageError("give --requeue or --drop, not both")
    from gateway.outbox import Outbox  # noqa: PLC0415 - see the imports above

    site, _buses = _load(config_path)
    path = outbox_path or site.outbox.path
    if not path.exists():
        raise click.ClickException(f"no outbox at {path}")
    outbox = Outbox(
        path,
        max_bytes=site.outbox.max_size,
        max_age=site.outbox.max_age,
        receipt_window=site.mqtt.outbox_receipt_window,  # as the running gateway opens it
    )
    try:
        if requeue is None and drop is None:
            _list_dead_letters(outbox, path)
            return
        wanted = _seqs(requeue if requeue is not None else drop)
        done = outbox.requeue(wanted) if requeue is not None else outbox.drop(wanted)
        verb = "re-queued" if requeue is not None else "dropped"
        click.echo(f"{verb} {len(done)} message(s){': ' + ', '.join(map(str, done)) if done else ''}")
        missing = sorted(set(wanted or ()) - set(done))
        if missing:
            raise click.ClickException(f"not dead letters (any more): {', '.join(map(str, missing))}")
    finally:
        outbox.close()


def _list_dead_letters(outbox: Outbox, path: Path) -> None:
    letters = outbox.dead_letters()
    click.echo(f"{path}: {len(letters)} dead letter(s)")
    if letters:
        click.echo(
            f"  {'seq':>8}  {'topic':<48}  {'reason':<24}  "
            f"{'first refused':<20}  {'last refused':<20}  attempts"
        )
    for d in letters:
        click.echo(
            f"  {d.message.seq:>8}  {d.message.topic:<48}  {f'{d.reason} (0x{d.reason_code:02x})':<24}  "
            f"{_when(d.first_at):<20}  {_when(d.last_at):<20}  {d.attempts}"
        )


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_metrics(text: str) -> dict[str, Any]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                values[name] = float(value)
    return values
