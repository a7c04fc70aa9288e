"""Hypothesis profiles of the fuzz tests, picked by PANTAU_FUZZ_PROFILE (default `ci`).

`ci` is bounded and reproducible: a modest number of examples, derandomized (the same examples on every
run, so a red CI run is red again on a laptop), no example database. `long` is what `make fuzz` runs:
many more examples, random, with the database kept so a finding replays on the next run.

The profile is applied per test (`@FUZZ`), never loaded globally, so the other property tests of the
suite keep their own settings.
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import HealthCheck, settings

#: The environment variable that picks the profile.
PROFILE_VARIABLE: Final = "PANTAU_FUZZ_PROFILE"

# Data generation here is deliberately heavy (whole messages, YAML documents, frames): the default
# health checks would call that slow, and function-scoped fixtures are never used inside @given.
_QUIET: Final = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci", max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=_QUIET
)
settings.register_profile("long", max_examples=20_000, deadline=None, suppress_health_check=_QUIET)

PROFILE: Final = os.environ.get(PROFILE_VARIABLE, "ci")
#: The decorator every fuzz test wears.
FUZZ: Final = settings.get_profile(PROFILE)
