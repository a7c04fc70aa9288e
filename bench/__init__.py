"""Benchmarks (`make bench`). Separate from tests: they print figures, they never pass or fail on speed."""
