"""ajv, the JavaScript JSON Schema validator, as an independent check of docs/schema.

Installed once with npm into pytest's cache (`.pytest_cache/d/ajv`), so a test run needs Node.js and npm
and, the first time, the npm registry. Missing node/npm skips locally and fails under CI (bash .ci/run
installs them).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from tests.harness.binaries import require_binary

#: Version ranges of what the check runs: ajv 8 (2020-12 support, strict mode) and its format plugin.
PACKAGES: Final = ("ajv@^8.17", "ajv-formats@^3")
SCRIPT: Final = Path(__file__).with_name("ajv_check.js")
INSTALL_TIMEOUT_S: Final = 120


@dataclass(frozen=True, slots=True)
class AjvResult:
    valid: bool
    errors: list[dict[str, Any]]


def install_ajv(cache: pytest.Cache) -> Path:
    """The folder holding node_modules/ajv, installed now if it is not there yet."""
    require_binary("node", "nodejs")
    npm = require_binary("npm", "npm")
    folder = cache.mkdir("ajv")
    if not (folder / "node_modules" / "ajv-formats").is_dir():
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(folder), *PACKAGES],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    return folder


def ajv_validate(
    folder: Path, schema_files: Iterable[Path], items: Iterable[tuple[str, str | bytes]]
) -> tuple[list[str], list[AjvResult]]:
    """Compile `schema_files` in strict mode and validate each (schema file name, payload); returns the
    names compiled and one result per item. Fails the test when a schema does not compile."""
    lines = [
        json.dumps({"schema": schema, "payload": p.decode() if isinstance(p, bytes) else p})
        for schema, p in items
    ]
    done = subprocess.run(
        [require_binary("node", "nodejs"), str(SCRIPT), *(str(f) for f in schema_files)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=INSTALL_TIMEOUT_S,
        env={"NODE_PATH": str(folder / "node_modules"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, f"ajv refused the schemas: {done.stderr.strip()[-2000:]}"
    out = [json.loads(line) for line in done.stdout.splitlines()]
    return out[0]["compiled"], [AjvResult(r["valid"], r["errors"]) for r in out[1:]]
