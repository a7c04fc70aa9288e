"""The `qc` rule: QARTOD tests (gross range, spike, flat line) on each reading."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from backend.rules.rule import RuleBase, RulesModel
from backend.rules.templates import Messages
from pantau.config import Duration


class Range(RulesModel):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class GrossRange(RulesModel):
    """QARTOD gross range: outside `fail` (the sensor's span) fails, outside `suspect` is suspect."""

    fail: Range | None = None
    suspect: Range | None = None

    @model_validator(mode="after")
    def _nested(self) -> GrossRange:
        if self.fail is None and self.suspect is None:
            raise ValueError("give fail and/or suspect")
        if (
            self.fail
            and self.suspect
            and not self.fail.min <= self.suspect.min < self.suspect.max <= self.fail.max
        ):
            raise ValueError("suspect range must lie within the fail range")
        return self


class Spike(RulesModel):
    """A reading this far from the median of the `window` readings before it is a spike."""

    suspect: float = Field(gt=0)
    fail: float | None = Field(default=None, gt=0)
    window: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Spike:
        if self.fail is not None and self.fail <= self.suspect:
            raise ValueError(f"fail {self.fail} must be above suspect {self.suspect}")
        return self


class FlatLine(RulesModel):
    """The same value (within `eps`) `suspect_count` readings in a row is suspect, `fail_count` fails."""

    suspect_count: int = Field(default=4, ge=2)
    fail_count: int = Field(default=6, ge=2)
    eps: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> FlatLine:
        if self.fail_count <= self.suspect_count:
            raise ValueError(f"fail_count {self.fail_count} must be above suspect_count {self.suspect_count}")
        return self


class QcRule(RuleBase):
    """QARTOD tests on each reading; alerts when readings keep failing for `alert_after`."""

    kind: Literal["qc"]
    gross_range: GrossRange | None = None
    spike: Spike | None = None
    flat_line: FlatLine | None = None
    alert_on: Literal["fail", "suspect"] = "fail"
    alert_after: Duration = timedelta(minutes=10)
    clear_after: Duration = timedelta(minutes=10)
    message: Messages = Messages(
        id="{site}/{device}/{channel}: data meragukan ({detail})",
        en="{site}/{device}/{channel}: data quality failing ({detail})",
    )

    @model_validator(mode="after")
    def _some_test(self) -> QcRule:
        if self.gross_range is None and self.spike is None and self.flat_line is None:
            raise ValueError("give at least one test: gross_range, spike or flat_line")
        if self.alert_after < timedelta(0) or self.clear_after < timedelta(0):
            raise ValueError("alert_after/clear_after: must not be negative")
        return self
