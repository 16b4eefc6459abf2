"""Give freed heap memory back to the operating system.

After a burst of short-lived allocations (loading the vector matrix, warming up the model and the
indexes) glibc keeps the freed pages in its arenas, so a process's RSS stays at its peak: measured
here, 50 MB of a freshly warmed `elephant serve` worker was such garbage. ``malloc_trim(0)`` hands
it back. Elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_free_memory() -> bool:
    """Trim the malloc heap; True when the C library did so (glibc)."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
