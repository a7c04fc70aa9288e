"""Gateway health, templated by site: online state, device polling (errors, latency, state), records
refused by record streams, outbox.

Gateways publish their status every `status_interval` (60 s by default), a Modbus device's status on change
and then every status interval, a record stream's on change and every status interval, so the panels carry
values forward (`fill(previous)`) where a state holds until the next message.
"""

from __future__ import annotations

from typing import Final

from backend.grafana.model import Dashboard, Panel, Step, Target, Variable, tagged_dashboards
from backend.grafana.queries import matches_var
from backend.grafana.scope import Scope
from backend.storage.schema import DEVICE_STATE_CODES, DEVICE_STATUS, GATEWAY_STATUS

UID: Final = "pantau-gateways"
_STATE_COLORS: Final = {"ok": "green", "degraded": "yellow", "failing": "red", "disabled": "text"}
_LINE: Final = {"drawStyle": "line", "lineWidth": 1, "showPoints": "auto"}


def gateway_health(scope: Scope) -> Dashboard:
    src = scope.sources
    board = Dashboard(
        uid=UID,
        title="pantau — gateway health",
        description="Gateways and the devices they poll: online, errors, latency, store-and-forward outbox",
        tags=("pantau", "gateways"),
        timezone=scope.settings.timezone,
        links=[tagged_dashboards("pantau")],
        variables=[Variable("site", "Site", tuple(site.id for site in scope.sites()))],
    )
    gw = f"FROM {src.of(GATEWAY_STATUS)} WHERE {matches_var('site', 'site')} AND $timeFilter"
    dev = f"FROM {src.of(DEVICE_STATUS)} WHERE {matches_var('site', 'site')} AND $timeFilter"
    board.add(
        Panel(
            "Gateway online",
            "state-timeline",
            [
                Target(
                    "A",
                    f'SELECT last("online") {gw} GROUP BY time($__interval), "site" fill(previous)',
                    alias="$tag_site",
                )
            ],
            width=24,
            height=6,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "offline", "color": "red", "index": 0},
                        "1": {"text": "online", "color": "green", "index": 1},
                    },
                }
            ],
            options={"showValue": "never", "mergeValues": True},
        ),
        Panel(
            "Gateways now",
            "table",
            [
                Target(
                    "A",
                    f'SELECT "state", "software_version", "outbox_depth", "outbox_dropped_total" {gw} '
                    f'GROUP BY "site" ORDER BY time DESC LIMIT 1',
                    "table",
                )
            ],
            width=24,
            height=6,
        ),
        Panel(
            "Device state",
            "state-timeline",
            [
                Target(
                    "A",
                    f'SELECT last("state_code") {dev} '
                    f'GROUP BY time($__interval), "site", "device" fill(previous)',
                    alias="$tag_site/$tag_device",
                )
            ],
            width=24,
            height=8,
            mappings=[
                {
                    "type": "value",
                    "options": {
                        str(code): {"text": state, "color": _STATE_COLORS[state], "index": code}
                        for state, code in DEVICE_STATE_CODES.items()
                    },
                }
            ],
            options={"showValue": "never", "mergeValues": True},
        ),
        Panel(
            "Poll errors by device",
            "timeseries",
            [
                Target(
                    "A",
                    f'SELECT non_negative_difference(max("errors_total")) {dev} '
                    f'GROUP BY time($__interval), "site", "device" fill(none)',
                    alias="$tag_site/$tag_device",
                )
            ],
            width=12,
            description="New failed requests (Modbus) or refused frames (record streams) between device "
            "status messages (sent when a device's state changes and every status interval).",
            custom=_LINE | {"drawStyle": "bars", "fillOpacity": 60},
        ),
        Panel(
            "Request latency",
            "timeseries",
            [
                Target(
                    "A",
                    f'SELECT mean("latency_ms") {dev} '
                    f'GROUP BY time($__interval), "site", "device" fill(none)',
                    alias="$tag_site/$tag_device",
                )
            ],
            width=12,
            unit="ms",
            custom=_LINE,
        ),
        Panel(
            "Rejected records by device",
            "timeseries",
            [
                Target(
                    "A",
                    f'SELECT non_negative_difference(max("rejected_total")) {dev} '
                    f'GROUP BY time($__interval), "site", "device" fill(none)',
                    alias="$tag_site/$tag_device",
                )
            ],
            width=24,
            description="Frames a WIM controller or weighbridge stream sent that the gateway refused "
            "(checksum, framing, a field that does not parse), between device status messages. A steady "
            "stream of them is a wrong layout, baud rate or checksum setting; samples with the failing "
            "field are in the backend's dead letters (reason record_reject).",
            unit="short",
            steps=[Step(None, "green"), Step(1.0, "orange")],
            custom=_LINE | {"drawStyle": "bars", "fillOpacity": 60},
        ),
        Panel(
            "Outbox depth",
            "timeseries",
            [
                Target(
                    "A",
                    f'SELECT max("outbox_depth") {gw} GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site",
                )
            ],
            width=8,
            description="Messages waiting in the gateway's store-and-forward queue "
            "(a broker or link outage).",
            unit="short",
            steps=[Step(None, "green"), Step(1000.0, "orange")],
            custom=_LINE,
        ),
        Panel(
            "Outbox age",
            "timeseries",
            [
                Target(
                    "A",
                    f'SELECT max("outbox_age_s") {gw} GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site",
                )
            ],
            width=8,
            description="Age of the oldest message not yet delivered.",
            unit="s",
            steps=[Step(None, "green"), Step(600.0, "orange")],
            custom=_LINE,
        ),
        Panel(
            "Outbox drops",
            "timeseries",
            [
                Target(
                    "A",
                    f'SELECT non_negative_difference(max("outbox_dropped_total")) {gw} '
                    f'GROUP BY time($__interval), "site" fill(none)',
                    alias="$tag_site",
                )
            ],
            width=8,
            description="Messages the outbox dropped (quota or age): data lost for good.",
            unit="short",
            steps=[Step(None, "green"), Step(1.0, "red")],
            custom=_LINE | {"drawStyle": "bars", "fillOpacity": 60},
        ),
    )
    return board
