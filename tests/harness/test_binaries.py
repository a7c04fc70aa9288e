"""A missing service binary skips a test locally but fails it under CI, where it must have been installed."""

from __future__ import annotations

import pytest

from tests.harness.binaries import find_binary, require_binary


def test_missing_binary_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the Debian package 'no-such-package'"):
        require_binary("pantau-no-such-binary", "no-such-package")


def test_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="pantau-no-such-binary not found"):
        require_binary("pantau-no-such-binary", "no-such-package")


def test_sbin_binaries_are_found_off_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # mosquitto lives in /usr/sbin on Debian; a developer's PATH often lacks it.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert find_binary("sh") is not None
    # Debian's mosquitto lives in /usr/sbin; require_binary fails under CI where it must be installed.
    assert require_binary("mosquitto", "mosquitto") == "/usr/sbin/mosquitto"
    assert find_binary("mosquitto") == "/usr/sbin/mosquitto"
