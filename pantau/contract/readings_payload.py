"""A readings message's payload written straight from its parts: the gateway's per-poll encoder.

`encode(Readings(...))` validates the whole message again (42 µs for ten channels) and then serialises it
(20 µs), for every poll of every device, although its channels are Reading models already validated (or
built valid, drivers/modbus/compiled.py) and its ids come from a validated site file. `readings_payload`
checks what a Readings message checks of its own fields (ids against the slug pattern, the time's bounds,
the sequence number's range, the number of channels) and writes the same bytes as `encode(Readings(...))`
with pydantic-core's serialiser, the one model_dump_json uses: same number formatting, same escaping. Any
input it cannot vouch for goes the validating way, so it raises exactly what Readings raises.
tests/pantau/contract/test_readings_payload.py holds it byte for byte to `encode`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Final

from pydantic_core import to_json

from pantau.contract.codec import encode
from pantau.contract.fields import EARLIEST_TIMESTAMP, INT64_MAX, LATEST_TIMESTAMP, SLUG_PATTERN, format_utc
from pantau.contract.messages import MAX_CHANNELS, SCHEMA_VERSION, Reading, Readings

_SLUG: Final = re.compile(SLUG_PATTERN)
#: A Reading's fields in the order model_dump_json writes them.
_FIELDS: Final = tuple(Reading.model_fields)


def readings_payload(
    *,
    site: str,
    device: str,
    gateway: str,
    seq: int,
    ts: datetime,
    channels: Mapping[str, Reading],
) -> bytes:
    """The bytes of `encode(Readings(site=..., device=..., ...))`; raises what Readings raises."""
    if not _vouched(site=site, device=device, gateway=gateway, seq=seq, ts=ts, channels=channels):
        message = Readings(site=site, device=device, gateway=gateway, seq=seq, ts=ts, channels=dict(channels))
        return encode(message)
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "readings",
        "site": site,
        "ts": format_utc(ts),
        "gateway": gateway,
        "seq": seq,
        "device": device,
        "channels": {name: _reading(reading) for name, reading in channels.items()},
    }
    return to_json(document)


def _vouched(
    *, site: str, device: str, gateway: str, seq: int, ts: datetime, channels: Mapping[str, Reading]
) -> bool:
    """Whether every field is what the Readings model would accept as it is (no coercion either)."""
    return (
        type(site) is str
        and type(device) is str
        and type(gateway) is str
        and _SLUG.fullmatch(site) is not None
        and _SLUG.fullmatch(device) is not None
        and _SLUG.fullmatch(gateway) is not None
        and type(seq) is int
        and 0 <= seq <= INT64_MAX
        and type(ts) is datetime
        and ts.tzinfo is not None
        and EARLIEST_TIMESTAMP <= ts.astimezone(UTC) < LATEST_TIMESTAMP
        and 1 <= len(channels) <= MAX_CHANNELS
        and all(
            type(name) is str and _SLUG.fullmatch(name) is not None and type(reading) is Reading
            for name, reading in channels.items()
        )
    )


def _reading(reading: Reading) -> dict[str, object]:
    # exclude_none, as encode(): absent optional fields are left out. Enum members are written as their
    # values (pydantic-core writes an enum's value too, only slower).
    state = reading.__dict__
    out: dict[str, object] = {}
    for name in _FIELDS:
        value = state[name]
        if value is not None:
            out[name] = value.value if isinstance(value, Enum) else value
    return out
