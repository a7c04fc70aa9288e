"""Real services for tests: private mosquitto and influxd on free loopback ports, pymodbus servers over TCP
and over a socat pty pair. Later issues reuse these; nothing here is a fake.

    ServiceProcess          a child process with a log file, a readiness check and a deadline
     ├── Mosquitto          mosquitto -c <tmp>/mosquitto.conf
     └── Influxd            influxd -config <tmp>/influxdb.conf
    SocatPtyPair            two linked pseudo-terminals (a virtual RS-485/RS-232 cable)
    ModbusServerThread      a pymodbus server (TCP or serial) on its own event loop in a thread

A test using any of them is a `services` test, left out of `make test-fast`: see lanes.py.
"""
