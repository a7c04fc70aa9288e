"""Finding the service binaries: skip locally when one is missing, fail under CI where it must be there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Debian installs mosquitto in /usr/sbin, which is not on every user's PATH.
_EXTRA_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in _EXTRA_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_binary(name: str, package: str) -> str:
    """Path of `name`; skips the test locally (fails under CI=true) naming the Debian package to install."""
    path = find_binary(name)
    if path is None:
        message = f"{name} not found: install the Debian package '{package}' (bash .ci/run does)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path
