"""Endpoints: a site's serial port or TCP socket, with line-setting overrides and link timings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from pantau.config import load_yaml_model
from pantau.profiles.files import PROFILE_DIR
from pantau.profiles.records.profile import RecordProfile
from pantau.site.connections import Endpoint, SerialEndpoint, TcpEndpoint

ENDPOINT: TypeAdapter[SerialEndpoint | TcpEndpoint] = TypeAdapter(Endpoint)


@pytest.fixture(scope="module")
def wim_profile() -> RecordProfile:
    return load_yaml_model(PROFILE_DIR / "generic-wim-csv.yaml", RecordProfile)


def test_a_site_overrides_only_the_settings_it_names(wim_profile: RecordProfile) -> None:
    endpoint = ENDPOINT.validate_python(
        {"kind": "serial", "port": "/dev/ttyS1", "baudrate": 19200, "parity": "E"}
    )
    assert isinstance(endpoint, SerialEndpoint)
    line = endpoint.line_settings(wim_profile.serial)
    assert (line.baudrate, line.parity, line.stopbits, line.bytesize) == (19200, "E", 1, 8)
    assert endpoint.describe() == "/dev/ttyS1"


def test_tcp_endpoints_and_their_defaults() -> None:
    endpoint = ENDPOINT.validate_python(
        {"kind": "tcp", "host": "10.20.0.7", "port": 4001, "backoff_cap": "2m"}
    )
    assert isinstance(endpoint, TcpEndpoint)
    assert endpoint.describe() == "10.20.0.7:4001"
    assert endpoint.connect_timeout == timedelta(seconds=10)
    assert endpoint.backoff_cap == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"kind": "tcp", "host": "h", "port": 0}, "port"),
        ({"kind": "tcp", "host": "h", "port": 1, "backoff_base": "2m", "backoff_cap": "1m"}, "backoff_cap"),
        ({"kind": "tcp", "host": "h", "port": 1, "read_timeout": "0s"}, "read_timeout must be positive"),
        ({"kind": "serial", "port": "/dev/ttyS0", "parity": "M"}, "parity"),
        ({"kind": "modem", "port": "/dev/ttyS0"}, "kind"),
    ],
)
def test_bad_endpoints_are_rejected(document: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ENDPOINT.validate_python(document)
