"""Rulers: millimetres along each row, read from the phase of the grid lines beside it
(edge.digitize.dewarp), kept where the rows agree. Rows printed together span the same
millimetres: a ruler that disagrees with the others, or that slipped a whole grid period against
them, is dropped, and a row without a readable ruler borrows its neighbours'."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dewarp import RowRuler, row_rulers, slipped_rulers
from .maps import PageMaps
from .rows import SelectedRows
from .span import Span

RULER_SPAN_TOL = 0.03  # a row's ruled span may differ from the rows' median by this fraction


@dataclass
class PageRulers:
    rulers: list[RowRuler | None]  # per selected row (borrowed where a row had none)
    ruled: list[int]  # rows whose own ruler agrees with the others
    used: bool  # the time axis follows the rulers (at least half the usable rows have one)
    span_mm: float  # the printed strip's length in page millimetres


def page_rulers(
    maps: PageMaps, prob: np.ndarray, sel: SelectedRows, span: Span, has_grid: bool
) -> PageRulers:
    """Each row's ruler where the grid is readable; without a grid, the page scale alone."""
    k = maps.px_per_mm
    span_mm = (span.x_end - span.x_first) / k
    if not has_grid:
        return PageRulers([None] * len(sel.centres), [], False, span_mm)
    rulers = row_rulers(
        maps.image, prob, sel.centres, sel.pitch, k, sel.extents, dark=maps.grid_darkness
    )
    ia, ib = int(round(span.x_first)), int(round(span.x_end))
    ruled = [i for i in span.good if rulers[i] is not None]
    spans: dict[int, float] = {}
    if ruled:
        spans = {i: float(r.mm[ib] - r.mm[ia]) for i in ruled if (r := rulers[i]) is not None}
        mid = float(np.median(list(spans.values())))
        ruled = [i for i in ruled if abs(spans[i] - mid) <= RULER_SPAN_TOL * abs(mid)]
        slipped = slipped_rulers(rulers, ruled, ia, ib, k)
        ruled = [i for i in ruled if i not in slipped]
        rulers = [r if i in ruled else None for i, r in enumerate(rulers)]
    used = len(ruled) * 2 >= len(span.good) and len(ruled) > 0
    if used:
        span_mm = float(np.median([spans[i] for i in ruled]))
        rulers = borrow_rulers(rulers, sel.centres, ruled)
    return PageRulers(rulers, ruled, used, span_mm)


def borrow_rulers(
    rulers: list[RowRuler | None], centres: list[float], ruled: list[int]
) -> list[RowRuler | None]:
    """A row whose own grid band is unreadable (glare, header text over the top row) takes the
    ruler interpolated between the nearest ruled rows above and below (the nearest one's at the
    page's edge): paper stretches smoothly, so its neighbours' millimetres are far closer than
    the page scale, and a row read on another time axis than its neighbours drifts against
    them."""
    out = list(rulers)
    ys = np.array([centres[i] for i in ruled])
    order = np.argsort(ys)
    ys, idx = ys[order], [ruled[j] for j in order]
    for i, r in enumerate(rulers):
        if r is not None:
            continue
        c = centres[i]
        j = int(np.searchsorted(ys, c))  # ruled rows above: idx[:j]; below: idx[j:]
        if j == 0 or j == len(ys):
            src = rulers[idx[0 if j == 0 else -1]]
            out[i] = RowRuler(src.mm, src.period_mm, 0.0)
            continue
        lo, hi = rulers[idx[j - 1]], rulers[idx[j]]
        t = float((c - ys[j - 1]) / max(ys[j] - ys[j - 1], 1e-6))
        out[i] = RowRuler((1 - t) * lo.mm + t * hi.mm, lo.period_mm, 0.0)
    return out
