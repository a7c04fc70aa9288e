"""Weighbridge weight streams: frames -> samples (`SampleParser`) -> weighings (`Weighbridge`).

An indicator such as the Rinstrum R320 prints the platform weight about ten times a second with a status
(gross, net, underload, overload, motion, error). A static weighing is the stable weight that follows a
rise above the empty threshold and ends when the platform empties again::

        idle --(weight > empty threshold, or overload)--> loaded
        loaded: still samples within tolerance form a run; a run of >= stable_samples samples spanning
                >= stable_time is a stable weight; motion, error, overload or a jump end the run
        loaded --(empty_samples samples at or below the threshold, or underload)--> idle, and then:
            overload seen              -> a `bad` record (over_range) with the highest weight shown
            a stable weight            -> a record; `suspect` if the indicator reported an error or net weight
            no stable weight           -> no record; counted in `aborted`

Pure: no clock, no I/O; the caller passes each sample's receive time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import median_low
from typing import Final

from pydantic import ValidationError

from drivers.serial_records.checksum import split_checksum
from drivers.serial_records.errors import MalformedRecord
from drivers.serial_records.parser import decode_text
from drivers.serial_records.records import VehicleRecord, describe_validation_error
from pantau.contract.messages import Quality, Reason
from pantau.profiles.records.layouts import STATUSES_WITHOUT_WEIGHT, WeightStatus, WeightStreamLayout
from pantau.profiles.records.profile import RecordProfile, WeighingSettings
from pantau.profiles.records.quantities import Quantity, scaled

#: Reason for a weighing taken in net mode: the tare was subtracted, so the figure is not a gross weight.
NET_WEIGHT_REASON: Final = "net_weight"


@dataclass(frozen=True, slots=True)
class WeightSample:
    """One frame of a weight stream; `weight_kg` is None when the indicator printed no number."""

    weight_kg: float | None
    status: WeightStatus


class SampleParser:
    """Parses the frames of one weight-stream profile."""

    def __init__(self, profile: RecordProfile) -> None:
        if not isinstance(profile.format, WeightStreamLayout):
            raise TypeError(f"profile '{profile.id}' is not a weight stream: use parser.RecordParser")
        self._profile = profile
        self._layout: WeightStreamLayout = profile.format

    def parse(self, frame: bytes) -> WeightSample:
        """The sample in `frame`, or MalformedRecord naming the field."""
        try:
            return self._parse(frame)
        except MalformedRecord as exc:
            exc.attach_raw(frame)
            raise

    def _parse(self, frame: bytes) -> WeightSample:
        payload = split_checksum(frame, self._profile.checksum) if self._profile.checksum else frame
        text = decode_text(payload, self._profile.encoding)
        match = self._layout.compiled.fullmatch(text)
        if match is None:
            raise MalformedRecord("does not match the weight stream pattern", field="record", value=text)
        status = self._layout.statuses.get(match["status"])
        if status is None:
            known = ", ".join(sorted(self._layout.statuses))
            raise MalformedRecord(f"is not a status code ({known})", field="status", value=match["status"])
        weight_text = match["weight"].strip()
        try:
            weight = scaled(weight_text, self._layout.weight_unit, Quantity.MASS)
        except ValueError as exc:
            if status in STATUSES_WITHOUT_WEIGHT:  # e.g. dashes while overloaded: the status says it all
                return WeightSample(None, status)
            raise MalformedRecord(str(exc), field="weight", value=weight_text) from exc
        sign = (match.groupdict().get("sign") or "").strip()
        return WeightSample(-weight if sign == "-" else weight, status)


@dataclass(slots=True)
class _Run:
    """Consecutive still samples whose weights stay within the tolerance of each other."""

    first_ts: datetime
    last_ts: datetime
    weights: list[float]

    def fits(self, weight: float, tolerance: float) -> bool:
        return max(*self.weights, weight) - min(*self.weights, weight) <= tolerance


@dataclass(slots=True)
class _Weighing:
    started: datetime
    highest_kg: float | None = None
    stable: list[tuple[datetime, float]] = field(default_factory=list)
    run: _Run | None = None
    overload_at: datetime | None = None
    device_error: bool = False
    net: bool = False
    empty_streak: int = 0


class Weighbridge:
    """Turns weight samples into weighing records (see the module docstring for the states)."""

    def __init__(self, settings: WeighingSettings) -> None:
        self._settings = settings
        self._weighing: _Weighing | None = None
        self.weighings = 0
        self.aborted = 0

    @property
    def loaded(self) -> bool:
        """Whether a weighing is in progress."""
        return self._weighing is not None

    def feed(self, ts: datetime, sample: WeightSample) -> VehicleRecord | None:
        """Take one sample received at `ts`; returns a record when a weighing ends with a result.

        Raises MalformedRecord only when the finished weighing is not a valid vehicle (e.g. beyond the
        contract's GVW range); the weighing is over either way.
        """
        threshold = self._settings.empty_threshold_kg
        weight, status = sample.weight_kg, sample.status
        is_load = status is WeightStatus.OVERLOAD or (
            weight is not None and weight > threshold and status is not WeightStatus.UNDERLOAD
        )
        is_empty = status is WeightStatus.UNDERLOAD or (
            weight is not None
            and weight <= threshold
            and status not in (WeightStatus.OVERLOAD, WeightStatus.ERROR)
        )
        if self._weighing is None:
            if not is_load:
                return None
            self._weighing = _Weighing(started=ts)
        weighing = self._weighing
        if is_empty:
            self._end_run(weighing)
            weighing.empty_streak += 1
            return self._finish(weighing) if weighing.empty_streak >= self._settings.empty_samples else None
        weighing.empty_streak = 0
        if weight is not None and (weighing.highest_kg is None or weight > weighing.highest_kg):
            weighing.highest_kg = weight
        if status is WeightStatus.OVERLOAD:
            weighing.overload_at = weighing.overload_at or ts
        weighing.device_error |= status is WeightStatus.ERROR
        if status in (WeightStatus.GROSS, WeightStatus.NET) and weight is not None:
            weighing.net |= status is WeightStatus.NET
            self._extend_run(weighing, ts, weight)
        else:  # motion, error, overload: the weight is not still
            self._end_run(weighing)
        return None

    def reset(self) -> None:
        """The stream broke (reconnect): a weighing in progress can no longer be finished."""
        if self._weighing is not None:
            self.aborted += 1
        self._weighing = None

    def _extend_run(self, weighing: _Weighing, ts: datetime, weight: float) -> None:
        run = weighing.run
        if run is not None and run.fits(weight, self._settings.stable_tolerance_kg):
            run.weights.append(weight)
            run.last_ts = ts
            return
        self._end_run(weighing)
        weighing.run = _Run(first_ts=ts, last_ts=ts, weights=[weight])

    def _end_run(self, weighing: _Weighing) -> None:
        run, weighing.run = weighing.run, None
        if run is None:
            return
        long_enough = len(run.weights) >= self._settings.stable_samples
        if long_enough and run.last_ts - run.first_ts >= self._settings.stable_time:
            # median_low: a weight the indicator actually showed, robust to one odd graduation.
            weighing.stable.append((run.first_ts, float(median_low(run.weights))))

    def _finish(self, weighing: _Weighing) -> VehicleRecord | None:
        self._weighing = None
        # Several stable weights in one weighing happen when a truck stops part-way on (some axles still on
        # the ramp) and then drives fully on, or stops again while leaving: the whole vehicle on the
        # platform is the heaviest of them, so report the maximum, never the last or an average.
        best = max(weighing.stable, key=lambda stable: stable[1], default=None)
        if weighing.overload_at is not None:
            shown = [w for w in (weighing.highest_kg, best[1] if best else None) if w is not None]
            if not shown:  # overloaded from the first frame, never a number: nothing to report as GVW
                self.aborted += 1
                return None
            self.weighings += 1
            # Beyond capacity the indicator's number is a lower bound, not a weight: `bad`, kept as evidence.
            return self._record(weighing.overload_at, max(shown), Quality.BAD, Reason.OVER_RANGE)
        if best is None:
            self.aborted += 1
            return None
        self.weighings += 1
        if weighing.device_error:
            return self._record(best[0], best[1], Quality.SUSPECT, Reason.DEVICE_ERROR)
        if weighing.net:
            return self._record(best[0], best[1], Quality.SUSPECT, NET_WEIGHT_REASON)
        return self._record(best[0], best[1], Quality.GOOD, None)

    @staticmethod
    def _record(ts: datetime, weight: float, quality: Quality, reason: str | None) -> VehicleRecord:
        try:
            return VehicleRecord(ts=ts, source="weighbridge", gvw_kg=weight, quality=quality, reason=reason)
        except ValidationError as exc:  # e.g. a wrong weight_unit making 40 t read as 40,000 t
            raise MalformedRecord(
                f"weighing is not a valid vehicle: {describe_validation_error(exc)}"
            ) from exc
