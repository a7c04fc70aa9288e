"""The gateway CPU/RSS benchmark's parts: the simulated devices and the bare polling loop (the floor), each
run as its own process so only the gateway's own work is measured."""
