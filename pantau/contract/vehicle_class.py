"""One vehicle class, one spelling: how a controller's class code is compared and published.

A WIM controller prints its class as `08`, a profile's YAML may say `8` (an integer), an API consumer asks
for `?vehicle_class=08`: all three are one class. The gateway publishes codes normalised this way
(pantau/profiles/records/vehicle_classes.py) and the API normalises its filters the same way, so a class
never splits into two series and a filter never misses one.
"""

from __future__ import annotations


def normalise_class_code(code: object) -> str:
    """`"08"`, `8` and `" 8 "` -> `"8"`; other codes stripped (`"6B"` stays `"6B"`)."""
    if isinstance(code, bool) or not isinstance(code, int | str):
        raise TypeError(f"class code {code!r} is not text or a whole number")
    text = str(code).strip()
    if not text:
        raise ValueError("a class code cannot be empty")
    # Leading zeros dropped as text, not through int(): a printed class may be thousands of digits long.
    return (text.lstrip("0") or "0") if text.isascii() and text.isdigit() else text
