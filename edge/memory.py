"""This process's memory: readings in MB for the benchmarks (`ecg-edge bench`, `ecg-convert
evaluate-digitizer`), one reader of /proc/self/status and of getrusage instead of a copy each,
and the cap on glibc's malloc arenas that the device's commands set at start."""

from __future__ import annotations

import os
import resource
from functools import lru_cache


def status_mb(field: str) -> float | None:
    """A /proc/self/status field in MB ("VmRSS": resident now, "VmHWM": this process's own peak);
    None where /proc is not available."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def max_rss_mb() -> float:
    """Peak resident set size from getrusage (after a fork it can include the parent's peak)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@lru_cache(maxsize=1)
def _libc():
    """glibc through ctypes, or None where there is none (musl, macOS)."""
    try:
        import ctypes
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(n: int = 2) -> bool:
    """Cap glibc's malloc arenas (like MALLOC_ARENA_MAX) before worker threads start: OpenCV and
    TFLite threads otherwise each keep an arena of freed pages and RSS creeps. True if applied."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # the service (or the user) already chose
    libc = _libc()
    try:
        return bool(libc.mallopt(-8, int(n))) if libc is not None else False  # M_ARENA_MAX
    except AttributeError:
        return False


def trim_malloc() -> bool:
    """Hand freed heap pages back to the OS (glibc's malloc_trim): without it glibc keeps them,
    and RSS creeps up over hundreds of captures. True if glibc did release some."""
    libc = _libc()
    try:
        return bool(libc.malloc_trim(0)) if libc is not None else False
    except AttributeError:
        return False
