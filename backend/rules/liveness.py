"""What the engine heard from each site's gateway, and when: shared by every rule that watches for silence
(`stale`), and part of the engine's snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Liveness:
    """What the engine heard from each site's gateway: shared by every stale rule, part of the snapshot."""

    heard: dict[str, datetime] = field(default_factory=dict)
    offline_since: dict[str, datetime] = field(default_factory=dict)
    offline_reason: dict[str, str | None] = field(default_factory=dict)

    def hear(self, site: str, now: datetime) -> None:
        if site not in self.heard or now > self.heard[site]:
            self.heard[site] = now

    def gateway(self, site: str, *, online: bool, at: datetime, reason: str | None) -> None:
        if online:
            self.offline_since.pop(site, None)
            self.offline_reason.pop(site, None)
        elif site not in self.offline_since:
            self.offline_since[site] = at
            self.offline_reason[site] = reason

    def dump(self) -> dict[str, Any]:
        return {
            "heard": {s: t.isoformat() for s, t in self.heard.items()},
            "offline_since": {s: t.isoformat() for s, t in self.offline_since.items()},
            "offline_reason": dict(self.offline_reason),
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> Liveness:
        return cls(
            heard={s: datetime.fromisoformat(t) for s, t in data["heard"].items()},
            offline_since={s: datetime.fromisoformat(t) for s, t in data["offline_since"].items()},
            offline_reason=dict(data["offline_reason"]),
        )
