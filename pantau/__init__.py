"""pantau: sensor gateway and time-series backend for flood early warning and truck overload enforcement.

Packages: `pantau.contract` (the MQTT wire contract both sides import), `drivers` (field protocols),
`gateway` (site runtime), `backend` (ingest, storage, rules, API).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pantau")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
