"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that run our own Python code on every byte:
the serial record parsers of the shipped record profiles (bodies with a valid checksum, seeded with
encoder-written frames), the Modbus decoder (register values for every shipped profile) and the contract
decoder. The hypothesis tests beside this file state the properties; this finds inputs by coverage.

    python -m tests.fuzz.atheris_targets records [-max_total_time=300] [-seed=1] [corpus dir]

An input that raises anything but the target's own refusal is a crash: libFuzzer stops, writes it to
crash-<hash> and exits non-zero. Run by `make fuzz` and, bounded, by tests/fuzz/test_atheris.py.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import atheris

with atheris.instrument_imports(include=["drivers", "pantau"]):
    from drivers.modbus.decoder import DeviceDecoder, RawResult
    from drivers.profiles import load_profile
    from drivers.serial_records import RecordParser
    from drivers.serial_records.checksum import append_checksum
    from drivers.serial_records.errors import ChecksumMismatch, MalformedRecord
    from drivers.serial_records.weighbridge import SampleParser
    from pantau.contract import codec
    from pantau.contract.errors import ContractError
    from pantau.profiles.files import shipped_profiles
    from pantau.profiles.modbus.profile import ModbusProfile
    from pantau.profiles.records.layouts import DelimitedLayout, WeightStreamLayout
    from pantau.profiles.records.profile import RecordProfile

from tests.fuzz.test_serial_records_fuzz import SEEDS

RECEIVED: Final = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
PROFILES = [load_profile(path) for path in shipped_profiles()]
RECORD_PROFILES = [p for p in PROFILES if isinstance(p, RecordProfile)]
MODBUS_PROFILES = [p for p in PROFILES if isinstance(p, ModbusProfile)]


def records(data: bytes) -> None:
    """First byte picks the profile; the rest is the payload, given its checksum so it gets past it."""
    if not data:
        return
    profile = RECORD_PROFILES[data[0] % len(RECORD_PROFILES)]
    payload = data[1:]
    if profile.checksum is not None:
        separator = profile.format.separator if isinstance(profile.format, DelimitedLayout) else None
        payload = append_checksum(payload, profile.checksum, separator)
    try:
        if isinstance(profile.format, WeightStreamLayout):
            SampleParser(profile).parse(payload)
        else:
            RecordParser(profile).parse(payload, received_at=RECEIVED)
    except ChecksumMismatch as exc:
        raise AssertionError(f"{profile.id}: the recomputed checksum was refused: {exc}") from exc
    except MalformedRecord as exc:
        if not exc.problem.strip():
            raise AssertionError(f"{profile.id}: MalformedRecord without a problem") from exc


def modbus(data: bytes) -> None:
    """Register values (and reply lengths) for every channel of one shipped profile, two polls in a row."""
    provider = atheris.FuzzedDataProvider(data)
    profile = MODBUS_PROFILES[provider.ConsumeIntInRange(0, len(MODBUS_PROFILES) - 1)]
    decoder = DeviceDecoder(profile, {"mounting_height_m": provider.ConsumeRegularFloat()})
    for _ in range(2):
        raw: dict[str, RawResult] = {}
        for spec in profile.channels:
            count = spec.register_count + provider.ConsumeIntInRange(-1, 1) * provider.ConsumeBool()
            raw[spec.id] = provider.ConsumeIntListInRange(max(count, 0), 0, 0xFFFF)
        decoder.decode(raw)


def contract(data: bytes) -> None:
    try:
        codec.decode(data)
    except ContractError as exc:
        if not exc.reason or not str(exc).strip():
            raise AssertionError(f"{type(exc).__name__} without a reason or message") from exc


TARGETS: Final[dict[str, Callable[[bytes], None]]] = {
    "records": records,
    "modbus": modbus,
    "contract": contract,
}


def seed_corpus(target: str) -> Path:
    """A fresh corpus directory holding valid inputs to start from (the encoder's frames for records)."""
    directory = Path(tempfile.mkdtemp(prefix=f"pantau-atheris-{target}-"))
    if target == "records":
        for index, profile in enumerate(RECORD_PROFILES):
            for number, payload in enumerate(SEEDS[profile.id]):
                (directory / f"{profile.id}-{number}").write_bytes(bytes([index]) + payload)
    elif target == "contract":
        from pantau.contract.examples import example_messages  # noqa: PLC0415 - seeds only

        for kind, message in example_messages().items():
            (directory / kind).write_bytes(codec.encode(message))
    return directory


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.atheris_targets {{{','.join(TARGETS)}}} [libFuzzer options]")
    target, options = sys.argv[1], sys.argv[2:]
    if not any(not option.startswith("-") for option in options):  # no corpus given: start from the seeds
        options.append(str(seed_corpus(target)))
    atheris.Setup([sys.argv[0], *options], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
