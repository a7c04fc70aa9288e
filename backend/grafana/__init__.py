"""Grafana for the operations center, generated from the site inventory and the rules file.

`pantau grafana build` writes `grafana/` (provisioning, dashboards, alert rules); `pantau grafana push`
syncs the same objects into a running Grafana through its HTTP API. docs/grafana.md has the details.

Errors::

    GrafanaError
     └── PushError      Grafana refused or could not be reached during `push`
"""

from __future__ import annotations


class GrafanaError(Exception):
    """Base of the Grafana generator's and pusher's failures."""


class PushError(GrafanaError):
    """A Grafana API call failed; the message names the object and the call."""
