"""The `stale` rule: a device with no good reading, or a gateway offline or silent."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from backend.rules.rule import RuleBase, Watched
from backend.rules.templates import Messages
from pantau.config import Duration


class StaleRule(RuleBase):
    """No good reading from a device for `after`; or, `scope: gateway`, the gateway offline or silent."""

    kind: Literal["stale"]
    scope: Literal["device", "gateway"] = "device"
    after: Duration = timedelta(minutes=10)
    pending: Duration = Field(default=timedelta(0), description="Grace after an `offline` gateway status")
    inhibit_when_gateway_offline: bool = True
    message: Messages = Messages(
        id="{site}/{device}: tidak ada data ({detail})",
        en="{site}/{device}: no data ({detail})",
    )

    def watches(self) -> Watched:
        if self.scope == "gateway":
            return "site"
        return "channel" if self.select.channel or self.select.quantity else "device"

    @model_validator(mode="after")
    def _fields(self) -> StaleRule:
        if self.after <= timedelta(0):
            raise ValueError("after: must be positive")
        if self.scope == "gateway" and (self.select.channel is not None or self.select.quantity is not None):
            raise ValueError("select: a gateway rule selects sites only (no channel or quantity)")
        if self.scope == "gateway" and self.select.device is not None:
            raise ValueError("select.device: a gateway rule selects sites only")
        # Each scope reads only its own setting; the other one, set, would silently do nothing.
        if self.scope == "device" and self.pending != timedelta(0):
            raise ValueError(
                "pending: the grace after an `offline` gateway status applies to scope: gateway only "
                "(a device rule waits `after`)"
            )
        if self.scope == "gateway" and not self.inhibit_when_gateway_offline:
            raise ValueError("inhibit_when_gateway_offline: applies to scope: device only")
        return self
