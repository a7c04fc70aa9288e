"""Which series a rule applies to: `select: {site, device, channel, quantity, tags}`.

Ids are matched exactly or as shell-style globs (`wl-*`), one pattern or a list of them (any may match).
`quantity` needs the inventory (what the device profile calls the channel: `water_level`, `rain_increment`),
`tags` need every listed tag on the site. An empty selector selects everything.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

from backend.rules.inventory import Inventory

#: A slug or a glob over slugs (`*`, `?`, `[...]`).
Pattern = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_*?\[\]!-]{1,63}$")]


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


Patterns = Annotated[tuple[Pattern, ...], BeforeValidator(_as_list)]
Names = Annotated[
    tuple[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")], ...],
    BeforeValidator(_as_list),
]


class Selector(BaseModel):
    """A filter over (site, device, channel); each given field must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: Patterns | None = None
    device: Patterns | None = None
    channel: Patterns | None = None
    quantity: Names | None = None
    tags: Names = ()

    def matches_site(self, site: str, inventory: Inventory) -> bool:
        """Whether `site` passes the site and tag filters."""
        if not _any(self.site, site):
            return False
        return not self.tags or set(self.tags) <= inventory.site_tags(site)

    def matches_device(self, site: str, device: str, inventory: Inventory) -> bool:
        """Site, tags and device filters (vehicle rules and device-level stale rules)."""
        return self.matches_site(site, inventory) and _any(self.device, device)

    def matches(self, site: str, device: str, channel: str, inventory: Inventory) -> bool:
        """Every filter, the quantity looked up in the inventory."""
        if not self.matches_device(site, device, inventory) or not _any(self.channel, channel):
            return False
        if self.quantity is None:
            return True
        return inventory.quantity_of(site, device, channel) in self.quantity


def _any(patterns: tuple[str, ...] | None, value: str) -> bool:
    if patterns is None:
        return True
    return any(matches_pattern(p, value) for p in patterns)


def is_glob(pattern: str) -> bool:
    """Whether `pattern` is a glob (`wl-*`) rather than one exact id."""
    return _GLOB.search(pattern) is not None


def matches_pattern(pattern: str, value: str) -> bool:
    """One selector pattern against one id: exactly, or as a shell-style glob."""
    return fnmatchcase(value, pattern) if is_glob(pattern) else value == pattern


_GLOB = re.compile(r"[*?\[]")
