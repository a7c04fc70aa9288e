"""Data-driven cases: `cases/<name>/` holds `input.bin` (bytes as a device sends them), `case.yaml` (the
profile, how to feed the bytes, expected counters) and `expected.jsonl` (the records, one per line).

Record streams are fed split at several chunk sizes, which must not change the result; weight streams are
fed one frame per chunk at `frame_interval`, because the weighbridge's stable time depends on arrival times.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.serial_records import RecordStream, VehicleRecord
from pantau.config import load_yaml_model, parse_duration
from pantau.profiles.records.profile import RecordProfile
from pantau.site.connections import TcpEndpoint
from tests.drivers.serial_records.conftest import PROFILE_DIR

CASES = Path(__file__).parent / "cases"
T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def case_names() -> list[str]:
    return sorted(path.name for path in CASES.iterdir() if (path / "case.yaml").is_file())


def load_case(name: str) -> tuple[dict[str, Any], RecordProfile, bytes]:
    folder = CASES / name
    case = yaml.safe_load((folder / "case.yaml").read_text())
    profile = load_yaml_model(PROFILE_DIR / f"{case['profile']}.yaml", RecordProfile)
    return case, profile, (folder / "input.bin").read_bytes()


def expected_records(name: str) -> list[VehicleRecord]:
    lines = (CASES / name / "expected.jsonl").read_text().splitlines()
    return [VehicleRecord.model_validate_json(line) for line in lines if line.strip()]


def split_after(data: bytes, marker: bytes) -> list[bytes]:
    """Chunks each ending right after `marker` (the last one holds whatever follows the last marker)."""
    chunks, start = [], 0
    while (end := data.find(marker, start)) >= 0:
        chunks.append(data[start : end + len(marker)])
        start = end + len(marker)
    return [*chunks, data[start:]] if start < len(data) else chunks


def run_case(
    case: dict[str, Any], profile: RecordProfile, data: bytes, chunk_size: int | None
) -> tuple[RecordStream, list[VehicleRecord]]:
    """Feed the case's bytes through the driver's pure pipeline (`RecordStream.feed`; nothing is opened)."""
    stream = RecordStream(profile, TcpEndpoint(kind="tcp", host="127.0.0.1", port=9), name="case")
    records: list[VehicleRecord] = []
    if "frame_interval" in case:
        interval = parse_duration(case["frame_interval"])
        assert isinstance(interval, timedelta)
        for index, chunk in enumerate(split_after(data, b"\x03")):
            records += stream.feed(chunk, T0 + index * interval)
    else:
        assert chunk_size is not None
        for start in range(0, len(data), chunk_size):
            records += stream.feed(data[start : start + chunk_size], T0)
    return stream, records


def feeds(name: str) -> list[int | None]:
    case = yaml.safe_load((CASES / name / "case.yaml").read_text())
    return list(case.get("chunk_sizes", [None]))


@pytest.mark.parametrize(
    ("name", "chunk_size"), [(name, size) for name in case_names() for size in feeds(name)]
)
def test_case(name: str, chunk_size: int | None) -> None:
    case, profile, data = load_case(name)
    stream, records = run_case(case, profile, data, chunk_size)
    assert records == expected_records(name)
    assert {key: getattr(stream.counters, key) for key in case["counters"]} == case["counters"]
    if case["counters"].get("malformed"):
        assert stream.counters.last_malformed is not None


def test_every_case_folder_is_complete() -> None:
    assert case_names()
    for name in case_names():
        for file in ("case.yaml", "input.bin", "expected.jsonl"):
            assert (CASES / name / file).is_file(), f"{name}/{file}"


def write_expected(name: str) -> None:
    """Regenerate expected.jsonl after a reviewed change of behaviour (then read the diff!)::

    python -c 'from tests.drivers.serial_records.test_cases import write_expected as w; w("<name>")'
    """
    case, profile, data = load_case(name)
    _, records = run_case(case, profile, data, feeds(name)[0])
    lines = [json.dumps(record.model_dump(mode="json", exclude_defaults=True)) for record in records]
    (CASES / name / "expected.jsonl").write_text("".join(f"{line}\n" for line in lines))
