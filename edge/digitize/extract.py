"""Trace extraction: per printed row, a minimum-cost path through the trace-probability map
(dynamic programming; vertical moves are cheap through ink and expensive through paper, so the
path follows steep QRS strokes and stays on its own trace where rows overlap), then sub-pixel
positions with peaks and troughs restored from the ink run of each column."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

INK = 0.5           # probability above which a pixel counts as ink for runs
STEP_COST = 0.003   # cost per pixel of vertical travel even through ink (keeps paths tight)


@dataclass
class RowTrace:
    y: np.ndarray          # float, per column x: trace centre (rectified px), NaN where no ink
    ink: np.ndarray        # float, per column: probability at the path (0..1)
    line_width: float      # px


def _cummin_arg(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running minimum along axis 1 and the index where it was attained."""
    cm = np.minimum.accumulate(v, axis=1)
    idx = np.broadcast_to(np.arange(v.shape[1]), v.shape)
    arg = np.maximum.accumulate(np.where(v <= cm, idx, 0), axis=1)
    return cm, arg


def dp_paths(prob: np.ndarray, centres: list[float], half: float, *, prior: float = 0.3,
             x_range: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Best path (one integer y per column) for each row centre, all rows solved together.

    Node cost is 1 - p; moving vertically within a column costs STEP_COST per pixel plus
    (1 - p)^2 of the pixels crossed (p dilated by one column, so steep strokes are solid): a QRS
    spike is followed to its tip for almost nothing, while cutting across its base means paying
    for paper. `half`: half-height of each row's band in px; `prior`: cost at the band edge for
    leaving the row centre (quadratic), which settles which row owns overlapping ink."""
    h, w = prob.shape
    x0, x1 = x_range or (0, w)
    hb = int(2 * half) + 1
    R = len(centres)
    tops = [int(round(c - half)) for c in centres]
    pd = cv2.dilate(prob, np.ones((1, 3), np.uint8))
    node = np.ones((R, x1 - x0, hb), np.float32)
    trav = np.ones((R, x1 - x0, hb), np.float32)
    for r, t in enumerate(tops):
        a, b = max(0, t), min(h, t + hb)
        if b > a:
            node[r, :, a - t:b - t] = 1.0 - prob[a:b, x0:x1].T
            trav[r, :, a - t:b - t] = (1.0 - pd[a:b, x0:x1].T) ** 2
    trav += STEP_COST
    yy = (np.arange(hb) - half) / max(half, 1.0)
    pri = (prior * yy * yy).astype(np.float32)[None, :]
    n = x1 - x0
    back = np.zeros((R, n, hb), np.int16)
    acc = node[:, 0, :] + pri
    for x in range(1, n):
        T = np.cumsum(trav[:, x, :], axis=1)
        # Moving down (y1 <= y2) pays T[y2] - T[y1]; moving up pays T[y1] - T[y2].
        dn, adn = _cummin_arg(acc - T)
        dn = dn + T
        up_r, aup_r = _cummin_arg((acc + T)[:, ::-1])
        up = up_r[:, ::-1] - T
        aup = (hb - 1) - aup_r[:, ::-1]
        take_up = up < dn
        acc = np.where(take_up, up, dn) + node[:, x, :] + pri
        back[:, x, :] = np.where(take_up, aup, adn)
    paths = []
    for r in range(R):
        y = np.empty(n, np.int64)
        y[-1] = int(np.argmin(acc[r]))
        for x in range(n - 1, 0, -1):
            y[x - 1] = back[r, x, y[x]]
        paths.append(y + tops[r])
    return paths


def refine_path(prob: np.ndarray, path: np.ndarray, x0: int = 0) -> RowTrace:
    """Sub-pixel centre per column from the ink run that holds the path; a run taller than the
    line that sticks out beyond both neighbours is a peak/trough: take its tip, not its middle."""
    h, w = prob.shape
    n = len(path)
    xs = np.arange(x0, x0 + n)
    yp = np.clip(path, 0, h - 1)
    top = yp.copy()
    bot = yp.copy()
    ink_at = prob[yp, xs]
    # Grow runs up and down while ink continues (vectorised over columns, bounded steps).
    alive_t = ink_at >= INK
    alive_b = alive_t.copy()
    for _ in range(int(0.5 * h)):
        if not (alive_t.any() or alive_b.any()):
            break
        nt = np.maximum(top - 1, 0)
        ok = alive_t & (top > 0) & (prob[nt, xs] >= INK)
        top = np.where(ok, nt, top)
        alive_t = ok
        nb = np.minimum(bot + 1, h - 1)
        ok = alive_b & (bot < h - 1) & (prob[nb, xs] >= INK)
        bot = np.where(ok, nb, bot)
        alive_b = ok
    length = bot - top + 1
    has_ink = ink_at >= INK
    lw = float(np.median(length[has_ink])) if has_ink.any() else 2.0
    lw = max(1.0, min(lw, 8.0))
    # Probability-weighted centroid within a window of the line width around the path.
    yc = np.full(n, np.nan)
    rad = int(np.ceil(lw / 2)) + 1
    offs = np.arange(-rad, rad + 1)
    ys = np.clip(yp[None, :] + offs[:, None], 0, h - 1)
    pw = prob[ys, xs[None, :]]
    pw = np.where(pw >= 0.2, pw, 0.0)
    sw = pw.sum(axis=0)
    cen = np.where(sw > 0, (pw * ys).sum(axis=0) / np.maximum(sw, 1e-6), yp)
    tall = length > 1.8 * lw + 1
    prev = np.concatenate([[yp[0]], yp[:-1]]).astype(np.float64)
    nxt = np.concatenate([yp[1:], [yp[-1]]]).astype(np.float64)
    is_peak = tall & (top < np.minimum(prev, nxt) - 0.5 * lw)
    is_trough = tall & (bot > np.maximum(prev, nxt) + 0.5 * lw)
    mid = 0.5 * (top + bot)
    yc = np.where(tall, mid, cen)
    yc = np.where(is_peak, top + 0.5 * (lw - 1), yc)
    yc = np.where(is_trough, bot - 0.5 * (lw - 1), yc)
    # Columns whose path found no ink at all are gaps.
    near = np.maximum(ink_at, pw.max(axis=0))
    yc = np.where(near >= 0.25, yc, np.nan)
    return RowTrace(yc.astype(np.float64), near.astype(np.float64), lw)


def columns_to_samples(y: np.ndarray, x_of_sample: np.ndarray) -> np.ndarray:
    """Linear interpolation of a per-column curve at fractional x positions (NaN stays NaN)."""
    n = len(y)
    xi = np.floor(x_of_sample).astype(np.int64)
    f = x_of_sample - xi
    ok = (xi >= 0) & (xi + 1 < n)
    xi_c = np.clip(xi, 0, n - 2)
    a, b = y[xi_c], y[xi_c + 1]
    v = a * (1 - f) + b * f
    # At a one-sided gap use the available neighbour when it is close.
    v = np.where(np.isnan(a) & (f > 0.5), b, v)
    v = np.where(np.isnan(b) & (f <= 0.5), a, v)
    return np.where(ok, v, np.nan)
