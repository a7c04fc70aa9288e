"""Modbus device profiles: register maps as configuration (`profile.py`), Modicon numbering checks."""
