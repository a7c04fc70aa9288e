"""Time-series storage: one interface (`model.Storage`), InfluxDB and SQLite implementations."""
