"""The layers hold at run time: what a process imports, seen in a fresh interpreter.

`lint-imports` (make lint, `.importlinter`) checks the import graph, but it saw `from backend.api.config
import ApiConfig` as an import of that module alone, while Python also ran `backend/api/__init__.py`, which
is how FastAPI once leaked into ingest. Only a fresh interpreter shows what really loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

pytestmark = pytest.mark.services  # a fresh interpreter per question: a child process

ROOT: Final = Path(__file__).resolve().parents[2]
#: The field side: the backend must run on a box without any of it installed.
FIELD_CODE: Final = ("gateway", "drivers", "pymodbus", "serial", "serial_asyncio_fast")
WEB_STACK: Final = ("fastapi", "starlette", "uvicorn")
BOTTOM: Final = (
    "pantau.aio",
    "pantau.config",
    "pantau.contract",
    "pantau.face",
    "pantau.memory",
    "pantau.process",
    "pantau.profiles",
    "pantau.resilience",
    "pantau.site",
)
#: Imports the modules named after the walk flag (with every module in them, when walking) and prints every
#: module name that loaded.
_PROBE: Final = """
import importlib, json, pkgutil, sys
walk, names = sys.argv[1] == "walk", sys.argv[2:]
for name in names:
    module = importlib.import_module(name)
    for found in pkgutil.walk_packages(getattr(module, "__path__", []) if walk else [], name + "."):
        importlib.import_module(found.name)
print(json.dumps(sorted(sys.modules)))
"""


def modules_loaded_by(*modules: str, walk: bool = False) -> set[str]:
    """Every module in sys.modules after importing `modules` (and, with `walk`, every module inside them) in
    a fresh interpreter run from the checkout."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "walk" if walk else "only", *modules],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def top_level_modules_loaded_by(*packages: str) -> set[str]:
    """Top-level names loaded by importing `packages` and all their modules."""
    return {name.split(".")[0] for name in modules_loaded_by(*packages, walk=True)}


def test_the_backend_worker_loads_no_gateway_driver_or_field_library() -> None:
    loaded = top_level_modules_loaded_by("backend.worker")
    assert "backend" in loaded  # the probe sees what it imported
    assert sorted(loaded & set(FIELD_CODE)) == []


def test_ingest_loads_no_web_framework() -> None:
    loaded = top_level_modules_loaded_by("backend.ingest")
    assert "backend" in loaded
    assert sorted(loaded & set(WEB_STACK)) == []


def test_reading_the_backend_config_loads_no_web_framework_or_http_client() -> None:
    # backend.yaml's models are read by every part; the notifier settings once sat beside the notifiers
    # and brought httpx (and their delivery code) into anything that read the config.
    loaded = modules_loaded_by("backend.config")
    assert "backend.config.api" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in {*WEB_STACK, "httpx", "httpcore"}) == []
    assert sorted(m for m in loaded if m.startswith(("backend.api", "backend.rules_service"))) == []


def test_the_bottom_layer_loads_nothing_above_it() -> None:
    loaded = top_level_modules_loaded_by(*BOTTOM)
    assert "pantau" in loaded
    assert sorted(loaded & {"backend", "bench", *FIELD_CODE, *WEB_STACK}) == []


def test_the_shared_field_types_load_no_message_model() -> None:
    # The site and profile models take Slug and Unit from here; the contract's face must not make that
    # cost every message model, the codec and the topics.
    loaded = modules_loaded_by("pantau.contract.fields")
    assert sorted(m for m in loaded if m.startswith("pantau")) == [
        "pantau",
        "pantau.contract",
        "pantau.contract.fields",
        "pantau.face",
    ]


def test_proving_record_examples_loads_no_stream_or_serial_library() -> None:
    # What `pantau gateway check` and `pantau profile check` run: the parser, not the stream.
    loaded = modules_loaded_by("drivers.serial_records.examples")
    assert "drivers.serial_records.parser" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in ("serial", "serial_asyncio_fast")) == []
    assert "drivers.serial_records.stream" not in loaded
