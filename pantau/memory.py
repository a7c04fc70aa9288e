"""Give memory the process no longer uses back to the operating system.

A long-running worker allocates and frees all the time, on several threads (SQLite runs on threads of
its own). glibc keeps freed memory in per-thread arenas for reuse, and fragmentation keeps much of it
resident: a soak of the demo grew by a few MB an hour that Python's and SQLite's own counters did not
show (the backend worker calls this once a minute). `malloc_trim(0)` returns every free page of every arena
(glibc 2.8+ also releases pages inside the heap, not only its top). Elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True if any were (False where malloc_trim does not exist)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    return bool(trim(0))
