"""Does every rule watch something? Rules checked against the site inventory before they run.

A selector is a filter, so a misspelt site or quantity (`ampal-mufakt`, `water_levl`) is valid on its own
and selects nothing: the flood rule would never fire and nothing would say so. `check_coverage` finds,
per rule, each selector value that names nothing in the inventory (with the nearest names that exist),
a selector that matches nothing as a whole, and a rule `unit` that is not the unit of the channels it
watches (a level rule in `cm` on a channel in `m` would label metres as centimetres). `pantau rules check
--sites` and the backend's start refuse a rules file with such problems, unless the rule says
`allow_unmatched: true` (a site still being installed): then they are warnings, logged once.

Pure: the inventory comes in as a `Catalog` (backend.inventory.SiteInventory.catalog() builds one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.rules.config import Rule, RulesFile, read_rules
from backend.rules.rule import VehicleRule
from backend.rules.select import Selector, is_glob, matches_pattern
from pantau.config import ConfigError
from pantau.config.suggest import nearest


@dataclass(frozen=True, slots=True)
class KnownChannel:
    """A channel a gateway publishes (its profile's unit and quantity)."""

    site: str
    device: str
    channel: str
    unit: str | None
    quantity: str | None


@dataclass(frozen=True, slots=True)
class KnownDevice:
    site: str
    device: str
    vehicles: bool  # a record stream (WIM, weighbridge): it publishes vehicles, not readings


@dataclass(frozen=True)
class Catalog:
    """Everything a selector can name: sites with their tags, devices, channels."""

    site_tags: Mapping[str, frozenset[str]]
    devices: tuple[KnownDevice, ...]
    channels: tuple[KnownChannel, ...]


@dataclass(frozen=True, slots=True)
class CoverageProblem:
    """One problem of one rule; `loc` is its place in the rules document (`rules`, index, `select`, ...)."""

    rule: str
    loc: tuple[str | int, ...]
    text: str
    allowed: bool  # the rule says `allow_unmatched: true`: a warning, not an error

    def __str__(self) -> str:
        index = self.loc[1]
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in self.loc[2:]).replace(".[", "[")
        return f"rules[{index}] '{self.rule}': {field}: {self.text}"


_EMPTY = (
    "the site inventory is empty (no site files, or no `sites:` in the backend config): nothing to select"
)


def check_coverage(rules: RulesFile, catalog: Catalog) -> list[CoverageProblem]:
    """Every coverage problem of every rule, in file order."""
    problems: list[CoverageProblem] = []
    for index, rule in enumerate(rules.rules):
        found = _RuleCheck(rule, catalog).problems()
        problems.extend(
            CoverageProblem(rule.id, ("rules", index, *loc), text, rule.allow_unmatched)
            for loc, text in found
        )
    return problems


def load_checked_rules(path: Path, catalog: Catalog) -> tuple[RulesFile, list[str]]:
    """A rules file validated and checked against the inventory.

    Raises ConfigError (`file:line:column: rules[i] 'id': select.site: ...`, every problem) when a rule
    without `allow_unmatched` has one; returns the rules and, as warnings in the same form, the problems
    of the rules that allow them."""
    rules, marks = read_rules(path)
    problems = check_coverage(rules, catalog)
    errors = [p for p in problems if not p.allowed]
    if errors:
        raise ConfigError(str(path), [str(p) for p in errors], [marks.at(p.loc) for p in errors])
    warnings = [
        f"{path}:{marks.at(p.loc) or '?'}: {p} (allow_unmatched: true, so the rule runs anyway)"
        for p in problems
    ]
    return rules, warnings


Loc = tuple[str | int, ...]


class _RuleCheck:
    """The problems of one rule, narrowing the inventory step by step as its selector does."""

    def __init__(self, rule: Rule, catalog: Catalog) -> None:
        self.rule = rule
        self.select: Selector = rule.select
        self.catalog = catalog
        self.level = rule.watches()
        self.vehicles = isinstance(rule, VehicleRule)
        self.found: list[tuple[Loc, str]] = []

    def problems(self) -> list[tuple[Loc, str]]:
        if not self.catalog.site_tags:
            return [(("select",), _EMPTY)]
        sites = self._sites()
        if self.level == "site":
            self._nothing_left("site", anything=bool(sites))
            return self.found
        devices = self._devices(sites)
        if self.level == "device":
            self._nothing_left("device", anything=bool(devices))
            return self.found
        channels = self._channels(devices)
        self._nothing_left("channel", anything=bool(channels))
        self._units(channels)
        return self.found

    def _problem(self, loc: Loc, text: str) -> None:
        self.found.append((loc, text))

    def _nothing_left(self, what: str, *, anything: bool) -> None:
        # Reported only when no single value was at fault: each value names something, but not together.
        if not anything and not self.found:
            self._problem(("select",), f"selects no {what}: {_describe(self.select)} match nothing together")

    def _sites(self) -> list[str]:
        every = sorted(self.catalog.site_tags)
        self._each_pattern("site", self.select.site, every, "site", "in the site inventory")
        tags = set().union(*self.catalog.site_tags.values())
        for i, tag in enumerate(self.select.tags):
            if tag not in tags:
                where = ("select", "tags", i) if len(self.select.tags) > 1 else ("select", "tags")
                known = ", ".join(sorted(tags)) or "none"
                self._problem(where, f"no site has tag '{tag}'{nearest(tag, tags)} (tags: {known})")
        return [
            site
            for site in every
            if _any(self.select.site, site) and set(self.select.tags) <= self.catalog.site_tags[site]
        ]

    def _devices(self, sites: Sequence[str]) -> list[KnownDevice]:
        in_sites = [d for d in self.catalog.devices if d.site in sites]
        names = [d.device for d in in_sites]
        where = f"on {_names(sites)}" if sites else "anywhere"
        self._each_pattern("device", self.select.device, names, "device", where)
        chosen = [d for d in in_sites if _any(self.select.device, d.device)]
        if self.vehicles:
            wrong = [d for d in chosen if not d.vehicles]
            if wrong and self.select.device is not None:
                self._problem(
                    ("select", "device"),
                    f"{_names(f'{d.site}/{d.device}' for d in wrong)} publish readings, not vehicles: "
                    f"a {self.rule.kind} rule watches record streams (WIM, weighbridge)",
                )
            chosen = [d for d in chosen if d.vehicles]
        elif self.level == "channel":
            chosen = [d for d in chosen if not d.vehicles]
        return chosen

    def _channels(self, devices: Sequence[KnownDevice]) -> list[KnownChannel]:
        keys = {(d.site, d.device) for d in devices}
        in_devices = [c for c in self.catalog.channels if (c.site, c.device) in keys]
        where = f"of {_names(f'{s}/{d}' for s, d in sorted(keys))}" if keys else "anywhere"
        self._each_pattern("channel", self.select.channel, [c.channel for c in in_devices], "channel", where)
        chosen = [c for c in in_devices if _any(self.select.channel, c.channel)]
        every = {c.quantity for c in self.catalog.channels if c.quantity}
        here = {c.quantity for c in chosen if c.quantity}
        quantities = self.select.quantity or ()
        for i, quantity in enumerate(quantities):
            where_q: Loc = ("select", "quantity", i) if len(quantities) > 1 else ("select", "quantity")
            if quantity not in every:
                self._problem(
                    where_q,
                    f"no channel in the site inventory measures '{quantity}'{nearest(quantity, every)}",
                )
            elif quantity not in here and chosen:
                self._problem(
                    where_q,
                    f"none of the channels selected measures '{quantity}' "
                    f"(they measure {_names(here) if here else 'nothing named'})",
                )
        if self.select.quantity is not None:
            chosen = [c for c in chosen if c.quantity in self.select.quantity]
        return chosen

    def _units(self, channels: Sequence[KnownChannel]) -> None:
        unit = self.rule.checked_unit()
        if unit is None:
            return
        every = {c.unit for c in self.catalog.channels if c.unit}
        wrong = sorted({c.unit for c in channels if c.unit is not None and c.unit != unit})
        if unit in every and not wrong:
            return
        text = f"'{unit}'"
        if unit not in every:
            text += f" is the unit of no channel in the site inventory{nearest(unit, every)}"
        if wrong:
            odd = [f"{c.site}/{c.device}/{c.channel}" for c in channels if c.unit in wrong]
            text += (
                f"{';' if unit not in every else ''} but {_names(odd)} {'is' if len(odd) == 1 else 'are'} in "
                f"{' and '.join(repr(u) for u in wrong)}: the rule does not convert, its thresholds and "
                "messages would be in the wrong unit"
            )
        self._problem(("unit",), text)

    def _each_pattern(
        self, field: str, patterns: tuple[str, ...] | None, names: Sequence[str], what: str, where: str
    ) -> None:
        if not names and self.found:
            return  # an earlier problem left nothing to look in: it is the one to report, not its echo
        for i, pattern in enumerate(patterns or ()):
            if any(matches_pattern(pattern, name) for name in names):
                continue
            loc: Loc = ("select", field, i) if len(patterns or ()) > 1 else ("select", field)
            if is_glob(pattern):
                self._problem(loc, f"pattern '{pattern}' matches no {what} {where}")
                continue
            elsewhere = self._elsewhere(field, pattern)
            hint = f"; it is {elsewhere}" if elsewhere else nearest(pattern, names)
            self._problem(loc, f"no {what} '{pattern}' {where}{hint}")

    def _elsewhere(self, field: str, name: str) -> str:
        """Where a device or channel of that name does exist, when it is not where the selector looks."""
        if field == "device":
            found = {d.site for d in self.catalog.devices if d.device == name}
        elif field == "channel":
            found = {f"{c.site}/{c.device}" for c in self.catalog.channels if c.channel == name}
        else:
            return ""
        return f"a {field} of {_names(found)}" if found else ""


def _any(patterns: tuple[str, ...] | None, value: str) -> bool:
    return patterns is None or any(matches_pattern(p, value) for p in patterns)


def _names(names: Iterable[str]) -> str:
    unique = sorted(set(names))
    shown = ", ".join(unique[:6])
    return shown + (f" and {len(unique) - 6} more" if len(unique) > 6 else "")


def _describe(select: Selector) -> str:
    parts = [f"{name}={value}" for name, value in select.model_dump(exclude_defaults=True).items()]
    return ", ".join(parts) if parts else "an empty selector"
