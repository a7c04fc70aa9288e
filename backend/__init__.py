"""The backend (issues #5-#8): MQTT ingest, storage (InfluxDB or SQLite), rules and alerts, HTTP API,
Grafana generation. Several workers may run at once on an MQTT v5 shared subscription.
"""
