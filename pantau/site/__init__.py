"""Site files as configuration: one YAML per gateway site naming its buses, how each is reached and the
devices on it (`config.py`, `connections.py`), and the devices resolved against their profiles
(`resolve.py`). Pure models and checks, no sockets or serial ports: the gateway runs them, the backend
reads them to know the sites' devices and channels."""
