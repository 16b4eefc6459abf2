"""Give freed heap memory back to the operating system.

After a burst of short-lived allocations (loading the vector matrix, warming up the model and the
indexes) glibc keeps the freed pages in its arenas, so a process's RSS stays at its peak: measured
here, 50 MB of a freshly warmed `elephant serve` worker was such garbage. ``malloc_trim(0)`` hands
it back. Elsewhere (musl, macOS) this does nothing.

A server also caps glibc's malloc arenas. glibc gives each thread that meets lock contention an
arena of its own, up to eight per core, and memory freed in one arena is not reused by another:
under mixed load on `elephant serve --workers 2` (threads for requests, the indexer, onnxruntime)
a worker's RSS climbed from 190 to 356 MB in two minutes with the default, and to 302 MB with two
arenas, on the same load in the same session (bench/soak.py, 2-core EPYC).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
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


# mallopt's parameter number for the arena cap (M_ARENA_MAX in glibc's malloc.h).
_M_ARENA_MAX = -8
SERVER_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap the number of malloc arenas for threads created from now on; True when glibc did so.

    ``MALLOC_ARENA_MAX`` in the environment wins: an operator who set it chose for this process.
    """
    libc = _libc()
    if libc is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Trim the malloc heap; True when the C library did so (glibc)."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
