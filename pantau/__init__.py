"""pantau: sensor gateway and time-series backend for flood early warning and truck overload enforcement.

Packages: `pantau.contract` (the MQTT wire contract both sides import), `drivers` (field protocols),
`gateway` (site runtime), `backend` (ingest, storage, rules, API).
"""

#: The one place the version is written (pyproject.toml reads it from here). Not looked up with
#: importlib.metadata at run time: that import alone costs a field gateway 1.6 MB of memory.
__version__ = "0.1.0"
