"""The installed `pantau` command, run as a technician would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services  # `python -m pantau` in a child process

PANTAU = [sys.executable, "-m", "pantau"]
REPO = Path(__file__).parents[2]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PANTAU, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_the_command_groups() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert "contract" in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("pantau, version ")


@pytest.mark.parametrize("kind", ["readings", "vehicle", "gateway_status", "device_status", "alert"])
def test_examples_validate_through_the_cli(kind: str) -> None:
    example = run("contract", "example", kind)
    assert example.returncode == 0, example.stderr
    assert json.loads(example.stdout)["kind"] == kind
    checked = run("contract", "validate", "-", stdin=example.stdout)
    assert checked.returncode == 0, checked.stderr
    assert f"ok ({kind}" in checked.stdout


def test_validate_reports_each_bad_line_and_fails(tmp_path: Path) -> None:
    good = json.dumps(json.loads(run("contract", "example", "readings").stdout))
    source = tmp_path / "capture.jsonl"
    source.write_text(f'{good}\n{{"kind": "readings"}}\nnot json\n')
    result = run(
        "contract",
        "validate",
        "--lines",
        "--topic",
        "pantau/v1/ampal-mufakat/wl-radar-1/readings",
        str(source),
    )
    assert result.returncode == 1
    assert f"{source}:1: ok" in result.stdout
    assert f"{source}:2: invalid" in result.stderr
    assert f"{source}:3: bad_json" in result.stderr
    assert "2 of 3 payloads invalid" in result.stderr


def test_schema_check_passes_on_the_committed_files() -> None:
    result = run("contract", "schema", "--check", "--out", str(Path(__file__).parents[2] / "docs" / "schema"))
    assert result.returncode == 0, result.stderr


def test_schema_check_fails_on_an_empty_directory(tmp_path: Path) -> None:
    result = run("contract", "schema", "--check", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "stale schema files" in result.stderr


def test_the_installed_console_script_runs() -> None:
    script = Path(sys.executable).parent / "pantau"
    assert script.is_file(), (
        "the `pantau` console script is not installed in this environment (pip install -e .)"
    )
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "contract" in result.stdout


#: What the backend, the Grafana pusher and the demo need, and a field gateway does not: a site file check
#: on a `pantau[gateway]` box must not import them (they are not even installed there).
NOT_FOR_A_GATEWAY_CHECK = (
    "fastapi",
    "starlette",
    "uvicorn",
    "grafana_client",
    "amqtt",
    "httpx",
    "aiomqtt",
    "backend",
    "pymodbus",  # the gateway's, but only --probe talks to devices: a check resolves the site, builds no bus
    "serial",  # nor opens a serial port: it proves record examples with the parser, not the stream
    "serial_asyncio_fast",
)


def run_counting_imports(
    *args: str, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`pantau ARGS` in a fresh interpreter, and the name of every module it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pantau", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )
    # -X importtime writes one line per module imported: "import time: self | cumulative |   name".
    imported = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if "import time:" in line
    }
    return result, imported


def test_gateway_check_imports_only_what_it_runs() -> None:
    site = REPO / "firmware_configs" / "sites" / "ampal-mufakat.yaml"
    result, imported = run_counting_imports("gateway", "check", "--config", str(site))
    assert result.returncode == 0, result.stderr
    assert "ok — site ampal-mufakat" in result.stdout
    assert "pantau.site.config" in imported  # the parse is right: it sees what check needs
    loaded = sorted(name for name in imported if name.split(".")[0] in NOT_FOR_A_GATEWAY_CHECK)
    assert loaded == []
    # Nor the contract's codec or a record stream (the faces of pantau.contract, drivers.serial_records).
    assert sorted(imported & {"pantau.contract.codec", "drivers.serial_records.stream"}) == []


#: The server's and the demo's heavy parts: a command that does not serve, push or broker loads none.
SERVER_PARTS = ("fastapi", "starlette", "uvicorn", "grafana_client", "amqtt", "pymodbus")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["grafana", "build", "--out", "{tmp}"], "generated files"),
        (
            ["rules", "check", "firmware_configs/rules/balikpapan.yaml", "--sites", "firmware_configs/sites"],
            "rules",
        ),
        (
            ["backend", "deadletter", "list", "--config", "firmware_configs/backend.example.yaml"],
            "no spool at",
        ),
    ],
    ids=["grafana build", "rules check", "backend deadletter list"],
)
def test_other_commands_import_only_what_they_run(args: list[str], says: str, tmp_path: Path) -> None:
    result, imported = run_counting_imports(*(a.replace("{tmp}", str(tmp_path)) for a in args), cwd=REPO)
    assert says in result.stdout + result.stderr, result.stderr[-2000:]
    assert sorted(name for name in imported if name.split(".")[0] in SERVER_PARTS) == []
