"""The weighbridge: R320 samples, and the load -> stable -> empty state machine that makes weighings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from drivers.serial_records import MalformedRecord, SampleParser, VehicleRecord, Weighbridge, WeightSample
from drivers.serial_records.weighbridge import NET_WEIGHT_REASON
from pantau.contract import Quality, Reason
from pantau.profiles.records.layouts import WeightStatus
from pantau.profiles.records.profile import RecordProfile, WeighingSettings

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
TICK = timedelta(milliseconds=100)  # the R320 streams at about 10 Hz
SETTINGS = WeighingSettings(
    empty_threshold_kg=200,
    stable_samples=5,
    stable_time=timedelta(milliseconds=400),
    stable_tolerance_kg=20,
    empty_samples=3,
)
STATUS = {
    "G": WeightStatus.GROSS,
    "N": WeightStatus.NET,
    "U": WeightStatus.UNDERLOAD,
    "O": WeightStatus.OVERLOAD,
    "M": WeightStatus.MOTION,
    "E": WeightStatus.ERROR,
}


def samples(script: str) -> list[WeightSample]:
    """`0G*3 5000M 31640G*6 -G` -> samples; `*n` repeats, `-` is a frame without a number."""
    out = []
    for token in script.split():
        body, _, times = token.partition("*")
        weight, status = body[:-1], STATUS[body[-1]]
        out += [WeightSample(None if weight == "-" else float(weight), status)] * int(times or 1)
    return out


def weigh(
    script: str, settings: WeighingSettings = SETTINGS
) -> tuple[list[tuple[int, VehicleRecord]], Weighbridge]:
    """Feed the script at 10 Hz; returns (sample index, record) for every record, and the machine."""
    machine = Weighbridge(settings)
    results = []
    for index, sample in enumerate(samples(script)):
        record = machine.feed(T0 + index * TICK, sample)
        if record is not None:
            results.append((index, record))
    return results, machine


WEIGHINGS = [
    # (name, script, gvw, quality, reason, index of the sample whose time the record carries)
    (
        "drive on, settle, drive off",
        "0G*3 5000M 20000M 31600M 31640G*6 20000M 3000M 0G*3",
        31640,
        "good",
        None,
        6,
    ),
    ("underload ends it", "31640G*6 -U*3", 31640, "good", None, 0),
    ("within tolerance", "31640G 31660G 31640G 31660G 31640G 0G*3", 31640, "good", None, 0),
    (
        "two stable weights: the heaviest",
        "18000G*6 25000M 31640G*6 25000M 12000G*6 0G*3",
        31640,
        "good",
        None,
        7,
    ),
    ("overload", "30000M 60000M -O*5 60000M 0G*3", 60000, "bad", Reason.OVER_RANGE, 2),
    ("error while loaded", "31640G*6 -E*2 31640G*2 0G*3", 31640, "suspect", Reason.DEVICE_ERROR, 0),
    ("net mode", "31640N*6 0N*3", 31640, "suspect", NET_WEIGHT_REASON, 0),
    ("a bounce does not split it", "31640G*6 0G*2 900M 0G*3", 31640, "good", None, 0),
]


@pytest.mark.parametrize(
    ("script", "gvw", "quality", "reason", "at"),
    [pytest.param(*case[1:], id=case[0]) for case in WEIGHINGS],
)
def test_weighings(script: str, gvw: float, quality: str, reason: str | None, at: int) -> None:
    results, machine = weigh(script)
    assert len(results) == 1
    _, record = results[0]
    assert record.source == "weighbridge"
    assert record.gvw_kg == gvw
    assert record.quality == Quality(quality)
    assert record.reason == reason
    assert record.ts == T0 + at * TICK
    assert (machine.weighings, machine.aborted, machine.loaded) == (1, 0, False)


ABORTED = [
    ("never still", "0G 10000M*10 0G*3"),
    ("still too briefly", "31640G*4 0G*3"),
    ("jitter beyond tolerance", "31600G 31700G 31600G 31700G 31600G 31700G 0G*3"),
    ("error and never stable", "20000M -E*6 0G*3"),
    ("overloaded from the first frame without a number", "-O*4 0G*3"),
]


@pytest.mark.parametrize("script", [pytest.param(script, id=name) for name, script in ABORTED])
def test_aborted_weighings_make_no_record_and_are_counted(script: str) -> None:
    results, machine = weigh(script)
    assert results == []
    assert (machine.weighings, machine.aborted) == (0, 1)


@pytest.mark.parametrize("script", ["0G*20", "150G*20", "-40G*20 -U*5", "-E*5", "190M*10"])
def test_an_empty_platform_and_zero_drift_make_nothing(script: str) -> None:
    results, machine = weigh(script)
    assert results == []
    assert (machine.weighings, machine.aborted, machine.loaded) == (0, 0, False)


def test_two_trucks_make_two_weighings() -> None:
    results, machine = weigh("31640G*6 0G*3 12000M 18220G*5 0G*3")
    assert [(index, record.gvw_kg) for index, record in results] == [(8, 31640), (17, 18220)]
    assert machine.weighings == 2


def test_stable_time_counts_as_well_as_samples() -> None:
    machine = Weighbridge(SETTINGS)
    # Ten still samples arriving in one burst (a stalled link catching up) span no time: not stable.
    for _ in range(10):
        assert machine.feed(T0, WeightSample(31640, WeightStatus.GROSS)) is None
    for index in range(3):
        assert machine.feed(T0 + (index + 1) * TICK, WeightSample(0, WeightStatus.GROSS)) is None
    assert machine.aborted == 1


def test_reset_aborts_a_weighing_in_progress() -> None:
    machine = Weighbridge(SETTINGS)
    for index, sample in enumerate(samples("31640G*6")):
        machine.feed(T0 + index * TICK, sample)
    machine.reset()
    assert (machine.loaded, machine.aborted) == (False, 1)
    machine.reset()  # nothing in progress: nothing more to count
    assert machine.aborted == 1


def test_a_weighing_beyond_the_contract_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedRecord, match=re.escape("gvw_kg = 400000.0")):
        weigh("400000G*6 0G*3")


R320_SAMPLES = [
    (b"   31640G", 31640.0, WeightStatus.GROSS),
    (b"-     40G", -40.0, WeightStatus.GROSS),
    (b"+  1234.5N", None, None),  # 8 characters of weight: not an R320 frame
    (b"   12000M", 12000.0, WeightStatus.MOTION),
    (b" -------O", None, WeightStatus.OVERLOAD),
    (b"        E", None, WeightStatus.ERROR),
    (b"       0U", 0.0, WeightStatus.UNDERLOAD),
    (b" 1234.5 N", 1234.5, WeightStatus.NET),
]


@pytest.mark.parametrize(("frame", "weight", "status"), R320_SAMPLES)
def test_r320_samples(
    r320_profile: RecordProfile, frame: bytes, weight: float | None, status: WeightStatus | None
) -> None:
    parser = SampleParser(r320_profile)
    if status is None:
        with pytest.raises(MalformedRecord, match="does not match the weight stream pattern"):
            parser.parse(frame)
    else:
        assert parser.parse(frame) == WeightSample(weight, status)


@pytest.mark.parametrize(
    ("frame", "field", "message"),
    [
        (b"   31640X", "record", "does not match the weight stream pattern"),
        (b" -------G", "weight", "'-------' is not a number"),
        (b"   3.6.4G", "weight", "is not a number"),
        (b"  31640G", "record", "does not match"),
        (b"\xff  31640G", "record", "is not ASCII"),
    ],
)
def test_malformed_r320_frames(r320_profile: RecordProfile, frame: bytes, field: str, message: str) -> None:
    with pytest.raises(MalformedRecord, match=re.escape(message)) as caught:
        SampleParser(r320_profile).parse(frame)
    assert caught.value.field == field
    assert caught.value.raw == frame
