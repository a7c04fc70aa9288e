"""Field protocol drivers (issue #3): Modbus RTU/TCP/RTU-over-TCP and line-oriented serial record streams.

Drivers know wires and registers, not MQTT: they turn device bytes into values with quality flags.
"""
