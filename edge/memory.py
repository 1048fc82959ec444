"""This process's memory in MB, for the benchmarks (`ecg-edge bench`, `ecg-convert
evaluate-digitizer`): one reader of /proc/self/status and of getrusage instead of a copy each."""

from __future__ import annotations

import resource


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
