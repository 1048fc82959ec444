"""Paths: each found row followed across the page (a dynamic-programming path through the trace
map, refined to sub-pixel stroke centres, edge.digitize.extract), the inked stretch it covers,
and the calibration pulse at its start."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .extract import RowTrace, dp_paths, refine_path
from .maps import PageMaps
from .pulses import (
    Pulse,
    find_pulse,
    find_pulse_in_map,
    is_standard_pulse,
    trace_after_break,
)
from .rows import Rows

EXTENT_INK = 0.3  # a column counts toward a row's inked extent from this ink fraction
EXTENT_GAP_MM = 3.0  # gaps this short inside a trace are bridged
EXTENT_JOIN_GAP_MM = 12.0  # glare or fading breaks a trace by up to this much...
EXTENT_PIECE_MM = 8.0  # ...between pieces at least this long (specks beside a trace are short)
SEARCH_HALF_PITCH = 0.8  # a row's path may wander this fraction of the row pitch from its centre
SEARCH_HALF_MM = (4.0, 40.0)  # ...within these bounds
SINGLE_ROW_PITCH = 0.3  # one row alone: its "pitch" is this fraction of the page height
PULSE_LOOKBACK_MM = 12.0  # a pulse parted from its trace by an unfollowed fall lies this close


@dataclass
class RowPaths:
    """Per found row: its sub-pixel trace, inked extent (first, last column) and left pulse; and
    the pulses the rows would show at their start after a half turn (an upside-down page)."""

    traces: list[RowTrace]
    extents: list[tuple[int, int] | None]
    pulses: list[Pulse | None]
    flipped_pulses: list[Pulse]


def inked_extent(tr: RowTrace, px_per_mm: float) -> tuple[int, int] | None:
    """First and last column of a row's trace: the longest inked stretch (short gaps bridged),
    grown across longer gaps to neighbouring stretches that are themselves trace-long."""
    idx = np.flatnonzero(np.isfinite(tr.y) & (tr.ink >= EXTENT_INK))
    if len(idx) == 0:
        return None
    gap = int(EXTENT_GAP_MM * px_per_mm)
    br = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate([[idx[0]], idx[br + 1]])
    ends = np.concatenate([idx[br], [idx[-1]]])
    k = int(np.argmax(ends - starts))
    lo = hi = k
    big_gap, piece = EXTENT_JOIN_GAP_MM * px_per_mm, EXTENT_PIECE_MM * px_per_mm
    while (
        lo > 0 and starts[lo] - ends[lo - 1] <= big_gap and ends[lo - 1] - starts[lo - 1] >= piece
    ):
        lo -= 1
    while (
        hi < len(starts) - 1
        and starts[hi + 1] - ends[hi] <= big_gap
        and ends[hi + 1] - starts[hi + 1] >= piece
    ):
        hi += 1
    return int(starts[lo]), int(ends[hi])


def follow_rows(maps: PageMaps, prob: np.ndarray, rows: Rows) -> RowPaths:
    """DP paths and sub-pixel traces for the rows found, their inked extents, the calibration
    pulse at each row start, and the pulses found at row ENDS read as after a half turn."""
    k = maps.px_per_mm
    if not rows.centres:
        return RowPaths([], [], [], [])
    pitch = rows.pitch if len(rows.centres) > 1 else SINGLE_ROW_PITCH * prob.shape[0]
    lo, hi = SEARCH_HALF_MM
    half = float(np.clip(SEARCH_HALF_PITCH * pitch, lo * k, hi * k))
    paths = dp_paths(prob, list(rows.centres), half)
    dark = maps.ink_darkness
    traces = [refine_path(prob, p, dark=dark) for p in paths]
    extents = [inked_extent(tr, k) for tr in traces]
    w = prob.shape[1]
    pulses: list[Pulse | None] = []
    flipped: list[Pulse] = []
    for tr, e in zip(traces, extents):
        if e is None:
            pulses.append(None)
            continue
        p = row_pulse(tr.y, tr.ink, e[0], k)
        if p is None or not is_standard_pulse(p, k):
            # The trace map may have dropped the pulse (a segmenter not taught it): the classical
            # map keeps every printed stroke.
            p = find_pulse_in_map(maps.classical_trace, tr.y, e[0], k) or p
        if p is not None:
            p.x_trace = trace_after_break(maps.classical_trace, p, k)
        pulses.append(p)
        # The row as it would read after a half turn.
        p = row_pulse(-tr.y[::-1], tr.ink[::-1], w - 1 - e[1], k)
        if p is not None:
            flipped.append(p)
    return RowPaths(traces, extents, pulses, flipped)


def row_pulse(y: np.ndarray, ink: np.ndarray, x_start: int, px_per_mm: float) -> Pulse | None:
    """The calibration pulse at a row's start: from the inked extent's start, else from the first
    inked column shortly before it (a pulse printed apart from its trace, whose vertical fall the
    path did not follow, is left out of the extent by the gap)."""
    p = find_pulse(y, x_start, px_per_mm)
    if p is not None:
        return p
    lo = max(0, x_start - int(PULSE_LOOKBACK_MM * px_per_mm))
    before = np.flatnonzero(np.isfinite(y[lo:x_start]) & (ink[lo:x_start] >= EXTENT_INK))
    if len(before) == 0:
        return None
    return find_pulse(y, lo + int(before[0]), px_per_mm)
