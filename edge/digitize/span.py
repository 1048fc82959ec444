"""Span: where the printed strip starts and ends on the rectified page. Rows printed together
start right after their calibration pulses (or where their traces start) and end together;
glare, fading or a shadow can cut one row's trace short, and a ruler-straight line before or
after the traces (a dark grid line under the baseline) can make it look longer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError
from .pulses import Pulse
from .rows import SelectedRows

STRIP_MM = 250.0  # a standard printed strip: 10 s at 25 mm/s (5 s at 50 mm/s)
STRIP_TOL = 0.04  # a span within this fraction of STRIP_MM is a standard strip
MIN_TRACE_MM = 20.0  # a row whose inked extent is shorter carries no usable trace
END_AGREE_MM = 3.0  # two rows whose traces end this close end together
FLAT_LEAD_MM = 4.0  # a flat lead-in or lead-out at least this long may be cut...
FLAT_LEAD_PX = 0.75  # ...when it stays this close to its own level


@dataclass
class Span:
    good: list[int]  # rows with a usable trace
    found: list[Pulse]  # the calibration pulses found (in row order)
    x_first: float  # first column of the printed strip (rectified px)
    x_end: float  # its last column


def common_end(ends: list[int], px_per_mm: float) -> float:
    """Where the rows end: the latest end that another row shares (within END_AGREE_MM) wins;
    without any agreement, the median."""
    e = sorted(float(v) for v in ends)
    for v in reversed(e):
        near = [u for u in e if abs(u - v) <= END_AGREE_MM * px_per_mm]
        if len(near) >= 2:
            return float(np.median(near))
    return float(np.median(e))


def printed_span(sel: SelectedRows, px_per_mm: float, warnings: list[str]) -> Span:
    """The printed strip's first and last column, from the pulses and the rows' inked extents."""
    k = px_per_mm
    good = [
        i for i, e in enumerate(sel.extents) if e is not None and (e[1] - e[0]) > MIN_TRACE_MM * k
    ]
    if not good:
        raise BadInputError(
            "no_traces",
            "no continuous ECG trace found",
            "photograph the printout flat and in focus",
        )
    found = [p for p in sel.pulses if p is not None]
    inked = [e for e in sel.extents if e is not None and (e[1] - e[0]) > MIN_TRACE_MM * k]
    x_end = common_end([e[1] for e in inked], k)
    starts = [p.trace_from for p in found] if found else [e[0] for e in inked]
    x_first = float(np.median(starts))
    if not found:
        x_first, x_end = _without_flat_lead(sel, good, x_first, x_end, k, warnings)
    return Span(good, found, x_first, x_end)


def _without_flat_lead(
    sel: SelectedRows, good: list[int], x_first: float, x_end: float, k: float, warnings: list[str]
) -> tuple[float, float]:
    """A row whose baseline sits on a dark grid line (a black-and-white grid) or that starts with
    a baseline drawn where a pulse would be is followed along that ruler-straight line beyond
    its trace; the strip then reads longer than printed and every lead shifts. Where the rows
    run over the standard strip and cutting their perfectly flat lead-in and lead-out brings
    them to it, the cut span is used. Only for rows without pulses: a pulse fixes the start."""
    span = (x_end - x_first) / k
    if abs(span / STRIP_MM - 1.0) <= STRIP_TOL:
        return x_first, x_end
    heads, tails = [], []
    n0 = int(FLAT_LEAD_MM * k)
    for i in good:
        ext = sel.extents[i]
        assert ext is not None  # `good` rows have an inked extent
        a, b = ext
        y = sel.traces[i].y[a : b + 1]
        if len(y) < 4 * n0:
            return x_first, x_end
        with np.errstate(invalid="ignore"):  # gaps (NaN) in a flat line do not end it
            off_h = np.abs(y - np.nanmedian(y[:n0])) > FLAT_LEAD_PX
            off_t = np.abs(y - np.nanmedian(y[-n0:])) > FLAT_LEAD_PX
        h = int(np.argmax(off_h)) if off_h.any() else 0
        t = int(np.argmax(off_t[::-1])) if off_t.any() else 0
        heads.append(a + (h if h >= n0 else 0))
        tails.append(b - (t if t >= n0 else 0))
    x0, x1 = float(np.median(heads)), common_end(tails, k)
    cut = (x1 - x0) / k
    if abs(cut / STRIP_MM - 1.0) > STRIP_TOL:
        return x_first, x_end
    warnings.append(
        f"a ruler-straight line before or after the traces (a grid line, a baseline without "
        f"pulse) was left out of the {span:.0f} mm rows (read as {cut:.0f} mm)"
    )
    return x0, x1
