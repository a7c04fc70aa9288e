"""The rules engine's runtime: the pure engine (`backend/rules/`) run on the live stream (`live.py`), its
durable state and journal (`state.py`, `journal.py`), delivery of what it decides to storage, MQTT and
notifiers (`effects.py`, `dispatch.py`, `notifiers.py`), replay over stored history (`replay.py`), the
seam the API reads active alerts through (`alert_book.py`) and the `pantau rules` commands (`cli.py`)."""
