"""The gateway runtime that runs at a field site (issue #4).

Site config -> poll scheduler (one task per bus) -> decode with device profile -> QC flags ->
durable outbox (SQLite) -> MQTT publisher. Speaks only `pantau.contract` messages to the outside.
"""
