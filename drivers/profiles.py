"""Device profiles as the drivers run them: read (`pantau.profiles.files`), then proven.

A record profile's `examples:` run through its own parser here, so `pantau profile check` and the gateway
refuse a profile whose layout reads the wrong columns; each failure is located at its example's line.
"""

from __future__ import annotations

from pathlib import Path

from drivers.serial_records.examples import prove_examples
from pantau.config import read_yaml
from pantau.profiles.base import ProfileHeader
from pantau.profiles.files import profile_of
from pantau.profiles.records.profile import RecordProfile


def load_profile(path: Path) -> ProfileHeader:
    """Read, validate and prove one profile; raises ConfigError naming the file, line and field."""
    read = read_yaml(path)
    profile = profile_of(read, path)
    if isinstance(profile, RecordProfile):
        prove_examples(profile, str(path), read.marks)
    return profile
