"""`pantau contract ...`: inspect and check messages against the wire contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

import click

from pantau.contract.codec import decode, encode
from pantau.contract.errors import ContractError
from pantau.contract.examples import example_messages
from pantau.contract.schema import stale_schemas, write_schemas
from pantau.contract.topics import DEFAULT_PREFIX, Topics


@click.group()
def contract() -> None:
    """The MQTT wire contract: JSON Schema, examples, payload validation."""


@contract.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/schema"),
    show_default=True,
    help="Directory for the *.schema.json files.",
)
@click.option("--check", is_flag=True, help="Only report whether the files are current; exit 1 if stale.")
def schema(out: Path, check: bool) -> None:  # noqa: FBT001 - click passes flags positionally
    """Generate JSON Schema files from the contract models."""
    if check:
        stale = stale_schemas(out)
        if stale:
            raise click.ClickException(
                f"{out}: stale schema files {', '.join(stale)}; run `pantau contract schema --out {out}`"
            )
        click.echo(f"{out}: schema files are current")
        return
    for path in write_schemas(out):
        click.echo(f"wrote {path}")


@contract.command()
@click.argument("kind", type=click.Choice(sorted(example_messages())))
def example(kind: str) -> None:
    """Print an example message of KIND as it goes on the wire."""
    click.echo(json.dumps(json.loads(encode(example_messages()[kind])), indent=2, ensure_ascii=False))


@contract.command()
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--topic", help="Topic the payloads arrived on; checks site/device/kind against it.")
@click.option("--prefix", default=DEFAULT_PREFIX, show_default=True, help="Topic prefix.")
@click.option("--lines", is_flag=True, help="SOURCE holds one JSON message per line (JSON Lines).")
def validate(source: IO[bytes], topic: str | None, prefix: str, lines: bool) -> None:  # noqa: FBT001
    """Validate message payloads from SOURCE (a file or - for stdin) against the contract."""
    try:
        topics = Topics(prefix)
    except ContractError as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from exc
    data: bytes = source.read()
    payloads = [line for line in data.splitlines() if line.strip()] if lines else [data]
    failures = 0
    for number, payload in enumerate(payloads, start=1):
        label = f"{source.name}:{number}" if lines else source.name
        try:
            message = decode(payload, topic=topic, topics=topics)
        except ContractError as exc:
            failures += 1
            click.echo(f"{label}: {exc.reason}: {exc}", err=True)
        else:
            click.echo(f"{label}: ok ({message.kind}, site {message.site})")
    if failures:
        click.echo(f"{failures} of {len(payloads)} payloads invalid", err=True)
        sys.exit(1)
