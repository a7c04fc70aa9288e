"""Line noise on a simulated record stream: after which frames a burst comes."""

from __future__ import annotations

import pytest

from drivers.sim.record_device import RecordFaults


def bursts(faults: RecordFaults, frames: int) -> list[int]:
    """The numbers (from 1) of the frames followed by a burst of noise."""
    return [number for number in range(1, frames + 1) if faults.noise()]


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (RecordFaults(), []),
        (RecordFaults(garbage_every=20), [20, 40, 60]),
        (RecordFaults(garbage_every=1), list(range(1, 61))),
        # the first early, then every Nth from it: the demo's WIM line shows noise in its first seconds
        (RecordFaults(garbage_every=20, garbage_first=2), [2, 22, 42]),
        (RecordFaults(garbage_every=20, garbage_first=1), [1, 21, 41]),
        (RecordFaults(garbage_first=2), []),  # no noise at all unless it comes every Nth frame
    ],
)
def test_noise_follows_the_nth_frame_from_the_first_burst(faults: RecordFaults, expected: list[int]) -> None:
    assert bursts(faults, 60) == expected
