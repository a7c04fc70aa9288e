"""Fuzz tests: hypothesis profiles in tests/fuzz/profiles.py (bounded `ci`, `long` for `make fuzz`)."""

from __future__ import annotations

from tests.fuzz.profiles import PROFILE, PROFILE_VARIABLE


def pytest_report_header() -> str:
    return f"fuzz profile: {PROFILE} (set {PROFILE_VARIABLE}=ci|long)"
