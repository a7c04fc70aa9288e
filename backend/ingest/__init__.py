"""MQTT ingest: subscribe, validate, spool durably, dead-letter, write to storage."""
