"""Simulated field devices for demos, tests and the technician's bench (`pantau simulate`).

They speak the real protocols through pymodbus' server (Modbus) or real byte streams (record streams),
driven by realistic signals, with faults that can be switched on at run time.
"""
