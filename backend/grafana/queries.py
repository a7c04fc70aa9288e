"""InfluxQL text for panels and alert rules, in the form Grafana's InfluxDB datasource (InfluxQL mode) sends.

Every measurement is read from the retention policy the backend writes it to (`schema.RETENTION`), so one
query works on InfluxDB 1.x natively and on 2.x/3.x through their v1 API (DBRP mapping). Identifiers and
strings come from the inventory and the rules file and are quoted like the storage's own queries.
Grafana macros stay in the text: `$timeFilter`, `$__interval`, and variables (`$device`, `$site`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from backend.grafana.settings import GrafanaSettings
from backend.storage.influx.influxql import duration_literal, quote_ident, quote_string
from backend.storage.model import RetentionClass
from backend.storage.schema import RETENTION


@dataclass(frozen=True, slots=True)
class Sources:
    """`FROM` clauses per measurement."""

    settings: GrafanaSettings

    def of(self, measurement: str) -> str:
        long = RETENTION.get(measurement, RetentionClass.RAW) is RetentionClass.LONG
        policy = self.settings.retention_policy_long if long else self.settings.retention_policy_raw
        return f"{quote_ident(policy)}.{quote_ident(measurement)}"


def ident(name: str) -> str:
    return quote_ident(name)


def eq(tag: str, value: str) -> str:
    """`"tag" = 'value'`."""
    return f"{quote_ident(tag)} = {quote_string(value)}"


def matches_var(tag: str, variable: str) -> str:
    """A multi-value variable: Grafana substitutes `(a|b)` (regex-escaped), so match the whole value."""
    return f"{quote_ident(tag)} =~ /^${variable}$/"


def equals_var(tag: str, variable: str) -> str:
    """A single-value variable, substituted as is."""
    return f"{quote_ident(tag)} = '${variable}'"


def series_clause(series: Iterable[tuple[str, str]]) -> str:
    """`(("device" = 'a' AND "channel" = 'b') OR ...)`: exactly these (device, channel) pairs."""
    return any_of([{"device": device, "channel": channel} for device, channel in series])


def any_of(rows: Iterable[dict[str, str]]) -> str:
    """Rows of tag values, each matched exactly: `(("site" = 'a' AND "device" = 'b') OR ...)`."""
    parts = sorted({"(" + " AND ".join(eq(tag, value) for tag, value in row.items()) + ")" for row in rows})
    if not parts:
        raise ValueError("a tag clause needs at least one row")
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def one_of(tag: str, values: Iterable[str]) -> str:
    """`"tag" =~ /^(a|b)$/` over literal ids (slugs: nothing to escape in a regex but `.`)."""
    listed = sorted(set(values))
    if not listed:
        raise ValueError(f"{tag}: no values")
    return f"{quote_ident(tag)} =~ /^({'|'.join(v.replace('.', chr(92) + '.') for v in listed)})$/"


def since(window: timedelta) -> str:
    """`time > now() - 1h`: for "current" values that must not depend on the dashboard's time range."""
    return f"time > now() - {duration_literal(window)}"


def where(*conditions: str) -> str:
    return " AND ".join(conditions)
