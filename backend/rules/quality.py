"""The QC verdict on one reading: the QARTOD flag storage records (`qc_flag`, `qc_reason`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pantau.contract import Reading

PASS: Final = 1
NOT_EVALUATED: Final = 2
SUSPECT: Final = 3
FAIL: Final = 4
MISSING: Final = 9


@dataclass(frozen=True, slots=True)
class QcVerdict:
    """QARTOD flag (1 pass, 2 not evaluated, 3 suspect, 4 fail, 9 missing), reason of the worst test."""

    flag: int
    reason: str | None = None
    detail: str | None = None

    @classmethod
    def of(cls, reading: Reading) -> QcVerdict:
        """The gateway's own verdict (its quality flag): bad or missing stays so."""
        return cls(reading.quality.qartod_flag, reading.reason, reading.detail)

    @property
    def usable(self) -> bool:
        """Whether levels, rate, accumulation and stale rules may use the reading (not failed/missing)."""
        return self.flag in (PASS, NOT_EVALUATED, SUSPECT)

    def worst(self, other: QcVerdict) -> QcVerdict:
        """The worse of two verdicts (missing is worst: there is nothing to judge)."""
        return other if _RANK[other.flag] > _RANK[self.flag] else self


_RANK: Final = {PASS: 0, NOT_EVALUATED: 1, SUSPECT: 2, FAIL: 3, MISSING: 4}
