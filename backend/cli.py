"""`pantau backend run|deadletter|rollup`: run a backend worker, look at what it refused and let it in
again, rebuild rollups."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from backend.api.vehicle_stats import rebuild_vehicle_rollup
from backend.config import BackendConfig, load_backend_config
from backend.ingest.readmit import readmit as readmit_deadletters
from backend.ingest.senders import SenderCheck
from backend.ingest.spool import DeadLetter, Spool
from backend.inventory import SiteInventory
from backend.storage.factory import open_storage
from backend.storage.model import StorageError
from backend.storage.rollup import ROLLUPS, roll_up
from backend.storage.schema import VEHICLE_1H
from pantau.config import ConfigError
from pantau.contract import Topics
from pantau.process import run_until_signalled

CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Backend file, e.g. firmware_configs/backend.example.yaml.",
)


@click.group()
def backend() -> None:
    """The backend: MQTT ingest into InfluxDB or SQLite, dead letters."""


def _load(config_path: Path) -> BackendConfig:
    try:
        return load_backend_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@backend.command()
@CONFIG
def run(config_path: Path) -> None:
    """Run one worker until SIGTERM/Ctrl-C (then it writes what is spooled, within 10 s)."""
    # Only `run` needs the worker, and with it the API server (FastAPI, uvicorn) and the MQTT client: the
    # dead-letter and rollup commands do without them.
    from backend.worker import BackendWorker  # noqa: PLC0415

    config = _load(config_path)
    try:
        worker = BackendWorker(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    storage = config.storage
    where = storage.influx.url if storage.backend == "influx" and storage.influx else storage.sqlite.path
    click.echo(
        f"backend {config.worker_id}: broker {config.mqtt.host}:{config.mqtt.port}, {storage.backend} {where}"
    )
    asyncio.run(run_until_signalled(worker.run()))


@backend.command()
@CONFIG
@click.option("--start", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), required=True, help="UTC.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), required=True, help="UTC.")
def rollup(config_path: Path, start: datetime, end: datetime) -> None:
    """Recompute the reading and vehicle rollups over a past range (after a long gateway backlog)."""
    config = _load(config_path)
    start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
    if start >= end:
        raise click.BadParameter("must be after --start", param_hint="--end")

    async def run() -> None:
        storage = open_storage(config.storage)
        try:
            await storage.setup()
            for measurement in ROLLUPS:
                written = await roll_up(storage, measurement, start, end)
                click.echo(f"{measurement}: {written} points")
            written = await rebuild_vehicle_rollup(storage, start, end)
            click.echo(f"{VEHICLE_1H}: {written} points")
        finally:
            await storage.close()

    try:
        asyncio.run(run())
    except StorageError as exc:
        raise click.ClickException(f"storage: {exc}") from exc


@backend.group()
def deadletter() -> None:
    """Messages the backend refused, with the reason (kept in the worker's spool)."""


def _spool(config_path: Path) -> Spool:
    config = _load(config_path)
    if not config.spool_path.exists():
        raise click.ClickException(f"no spool at {config.spool_path}: has this worker run yet?")
    return Spool(config.spool_path)


@deadletter.command("list")
@CONFIG
@click.option("--reason", help="Only this reason (bad_json, invalid, topic_mismatch, unknown_site, ...).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--before", "before_id", type=int, help="Page back: entries older than this id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(config_path: Path, reason: str | None, limit: int, before_id: int | None, as_json: bool) -> None:  # noqa: FBT001
    """Newest first, with counts per reason."""
    spool = _spool(config_path)
    try:
        entries = spool.deadletters(limit=limit, reason=reason, before_id=before_id)
        counts = spool.deadletter_counts()
    finally:
        spool.close()
    if as_json:
        for entry in entries:
            click.echo(json.dumps(_as_dict(entry, with_payload=False)))
        return
    summary = ", ".join(f"{r} {n}" for r, n in counts.items()) or "none"
    click.echo(f"dead letters: {summary}")
    for entry in entries:
        click.echo(f"{entry.id:>8}  {_when(entry)}  {entry.reason:<15} {entry.topic}")
        click.echo(f"          {entry.detail[:200]}")


@deadletter.command()
@CONFIG
@click.argument("entry_id", type=int)
def show(config_path: Path, entry_id: int) -> None:
    """One entry in full, with its payload as received."""
    spool = _spool(config_path)
    try:
        entry = spool.deadletter(entry_id)
    finally:
        spool.close()
    if entry is None:
        raise click.ClickException(f"no dead letter {entry_id}")
    click.echo(json.dumps(_as_dict(entry, with_payload=True), indent=2, ensure_ascii=False))


@deadletter.command()
@CONFIG
@click.option("--reason", help="Only dead letters of this reason (e.g. unknown_device).")
@click.option("--dry-run", is_flag=True, help="Say what would be let in, change nothing.")
def readmit(config_path: Path, reason: str | None, dry_run: bool) -> None:  # noqa: FBT001
    """Judge dead letters again with today's site files and contract; spool the ones accepted now.

    For messages refused for what was true when they came: a device the site files did not list yet, a
    gateway renamed. The worker's writer stores them (a running worker on its next write, else at its
    start). Alerts are not evaluated for them: `pantau rules replay` judges the period again."""
    config = _load(config_path)
    spool = _spool(config_path)
    try:
        inventory = SiteInventory.load(config.sites) if config.sites else SiteInventory([])
        senders = SenderCheck.for_backend(config, inventory)
        done = readmit_deadletters(
            spool,
            Topics(config.mqtt.topic_prefix),
            senders,
            config.clock_skew,
            reason=reason,
            dry_run=dry_run,
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        spool.close()
    verb = "would let in" if dry_run else "let in"
    click.echo(f"{verb} {done.accepted} dead letter(s), {done.points} point(s)")
    if done.still_refused:
        refused = ", ".join(f"{r} {n}" for r, n in sorted(done.still_refused.items()))
        click.echo(f"still refused: {refused}")
    if done.skipped:
        skipped = ", ".join(f"{r} {n}" for r, n in sorted(done.skipped.items()))
        click.echo(f"not judged again: {skipped}")


def _when(entry: DeadLetter) -> str:
    return datetime.fromtimestamp(entry.received_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_dict(entry: DeadLetter, *, with_payload: bool) -> dict[str, object]:
    data: dict[str, object] = {
        "id": entry.id,
        "received_at": _when(entry),
        "topic": entry.topic,
        "reason": entry.reason,
        "detail": entry.detail,
        "size": entry.size,
    }
    if with_payload:
        data["truncated"] = len(entry.payload) < entry.size
        data["payload"] = entry.payload.decode("utf-8", errors="backslashreplace")
    return data
