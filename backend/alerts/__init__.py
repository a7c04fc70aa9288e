"""Alerts: the live book of active alerts, their history in storage, MQTT publication and notifiers."""
