"""Lean: paper that is not flat (a fold, a curl, a page bowed on a desk) leaves the vertical grid
lines leaning or bent on the rectified page, which one homography cannot undo. A QRS spike is
printed along a vertical grid line; leaning with it by a pixel or two over its height, its
up-stroke runs backwards in x, the path and the column runs lose its tip, and a tall wave's peak
is read early or late.

The vertical lines' x shift is measured band by band down the page (the phase of their pattern in
each band against the last band read above it). The trace maps are then resampled so that, about
each row, the grid stands upright: every pixel moves along its grid line to the row's own level.
x at that level is left as it was, so the row's ruler (which reads the grid there) and its time
axis still hold, and so do the rows' time origins."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .dewarp import _demodulate, _high_pass
from .grid import grid_darkness, paper_window

BAND_MM = 6.0  # the grid-line pattern is measured over bands this tall...
STEP_MM = 3.0  # ...every this far down the page
SMOOTH_X_MM = 3.0  # the pattern's phase is averaged over this along x (a few grid periods)
SMOOTH_FIELD_MM = 4.0  # the lean is smoothed this much down the page...
SMOOTH_ALONG_MM = 12.0  # ...and this much along it (paper bends over centimetres; noise does not)
READABLE = 0.35  # a band's envelope must reach this fraction of its residual level to be read
MAX_TILT = 0.1  # px per px: a band stepping further from the last one read is a misread
MIN_READ_FRACTION = 0.3  # a page needs half its columns read in this share of the bands
STEP_SUPPORT = 0.5  # smoothed steps with less reading weight around them shrink towards none
ROW_LEAN_PX = 0.8  # a row whose strip moves less than this (95th percentile)...
ROW_LEAN_MM = 10.0  # ...within this of its centre is left as it is: on a flat page the measured
# lean is the pattern's noise (about 0.45 px there), and resampling blurs thin strokes
INK_PROB = 0.3  # trace-map level from which a pixel is ink, left out of the grid's pattern
INK_GROW_PX = 2  # ...grown by this much: a stroke's blurred edge would pull the pattern's phase
INK_GROW = np.ones((2 * INK_GROW_PX + 1, 2 * INK_GROW_PX + 1), np.uint8)
PROFILE_CHUNK_BANDS = 8  # bands whose grid darkness is made at once
SHEAR_MIN_READ = 3.0  # a page's shear needs steps read in this many bands' worth of columns


@dataclass
class GridLean:
    """x shift (px) of the vertical grid lines at the band centres `centres` (rectified y) for
    every column, against the top band: shape (len(centres), width). Only differences down a
    column mean anything."""

    shift: np.ndarray
    centres: np.ndarray

    def _bands(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For heights y: the band above, the band below and the fraction of the way between."""
        n = len(self.centres)
        step = self.centres[1] - self.centres[0] if n > 1 else 1.0
        t = np.clip((np.asarray(y, np.float64) - self.centres[0]) / step, 0, n - 1)
        i0 = np.minimum(np.floor(t).astype(np.int64), n - 1)
        return i0, np.minimum(i0 + 1, n - 1), t - i0

    def rows_at(self, y: np.ndarray) -> np.ndarray:
        """The shift of every column at each height y (linear between band centres)."""
        i0, i1, f = self._bands(y)
        return self.shift[i0] * (1 - f[:, None]) + self.shift[i1] * f[:, None]

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The shift at points (x, y), bilinear between bands and columns."""
        w = self.shift.shape[1]
        i0, i1, ft = self._bands(y)
        xf = np.clip(np.asarray(x, np.float64), 0, w - 1)
        j0 = np.minimum(np.floor(xf).astype(np.int64), w - 1)
        j1 = np.minimum(j0 + 1, w - 1)
        fx = xf - j0
        top = self.shift[i0, j0] * (1 - fx) + self.shift[i0, j1] * fx
        bot = self.shift[i1, j0] * (1 - fx) + self.shift[i1, j1] * fx
        return top * (1 - ft) + bot * ft


def _envelope(p: np.ndarray, f0: float, px_per_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Complex envelope of one band's profile at the grid frequency f0, and where it reads."""
    hp = _high_pass(p, f0)
    z = _demodulate(hp, f0, SMOOTH_X_MM * px_per_mm)
    return z, np.abs(z) >= READABLE * (float(np.median(np.abs(hp))) + 1e-6)


def _period_mm(prof: list[np.ndarray], px_per_mm: float) -> float:
    """The grid period (1 mm minor or 5 mm major lines) whose pattern reads in more of a sample
    of the bands; the 1 mm pattern (or the 5 mm lines' fifth harmonic) reads shifts finer."""
    best, best_mm = -1.0, 1.0
    for period_mm in (1.0, 5.0):
        f0 = 1.0 / (period_mm * px_per_mm)
        good = sum(
            float(np.mean(_envelope(p, f0, px_per_mm)[1])) for p in prof[:: max(1, len(prof) // 12)]
        )
        if good > best:
            best, best_mm = good, period_mm
    return best_mm


def _band_profiles(
    page_bgr: np.ndarray, prob: np.ndarray | None, starts: np.ndarray, band: int
) -> list[np.ndarray]:
    """Mean grid darkness (edge.digitize.grid) per column of each band, trace ink (the trace map
    from INK_PROB, grown by a pixel; none without a map) left out. The darkness is made a few
    bands at a time, each stretch with the paper window's reach around it, so no page-sized map
    is held."""
    h = page_bgr.shape[0]
    win = paper_window(page_bgr.shape)
    out: list[np.ndarray] = []
    for c0 in range(0, len(starts), PROFILE_CHUNK_BANDS):
        chunk = starts[c0 : c0 + PROFILE_CHUNK_BANDS]
        a, b = int(chunk[0]), int(min(h, chunk[-1] + band))
        a0, b0 = max(0, a - win), min(h, b + win)
        dark = grid_darkness(page_bgr[a0:b0], win)[a - a0 : b - a0]
        if prob is None:
            out.extend(
                dark[int(s) - a : int(s) - a + band].mean(axis=0, dtype=np.float64) for s in chunk
            )
            continue
        i0, i1 = max(0, a - INK_GROW_PX), min(h, b + INK_GROW_PX)
        grown = cv2.dilate((prob[i0:i1] >= INK_PROB).astype(np.uint8), INK_GROW)
        ink = grown[a - i0 : a - i0 + (b - a)] > 0
        for s in chunk:
            r0 = int(s) - a
            keep = ~ink[r0 : r0 + band]
            n = keep.sum(axis=0)
            tot = np.where(keep, dark[r0 : r0 + band], 0.0).sum(axis=0, dtype=np.float64)
            out.append(np.where(n > 0, tot / np.maximum(n, 1), 0.0))
    return out


@dataclass
class _Steps:
    """The vertical lines' x step (px) from each band to the band above it, per column, where
    both bands read (`ok`); `read` counts the bands read per column."""

    steps: np.ndarray
    ok: np.ndarray
    read: np.ndarray
    starts: np.ndarray
    band: int
    step: int


def _band_steps(
    page_bgr: np.ndarray, prob: np.ndarray | None, px_per_mm: float, step_mm: float
) -> _Steps | None:
    """Each band's grid pattern against the band above it in the same column (a step of a
    fraction of a period, so no unwrapping)."""
    h, w = page_bgr.shape[:2]
    band, step = int(round(BAND_MM * px_per_mm)), int(round(step_mm * px_per_mm))
    if h < band + step:
        return None
    starts = np.arange(0, h - band + 1, step)
    prof = _band_profiles(page_bgr, prob, starts, band)
    f0 = 1.0 / (_period_mm(prof, px_per_mm) * px_per_mm)
    steps = np.zeros((len(starts), w))
    ok = np.zeros((len(starts), w), bool)
    z_prev, good_prev = _envelope(prof[0], f0, px_per_mm)
    read = good_prev.astype(np.float64)
    for i in range(1, len(prof)):
        z, good = _envelope(prof[i], f0, px_per_mm)
        d = -np.angle(z * np.conj(z_prev)) / (2 * np.pi * f0)
        ok[i] = good & good_prev & (np.abs(d) <= MAX_TILT * step)
        steps[i] = np.where(ok[i], d, 0.0)
        read += good
        z_prev, good_prev = z, good
    return _Steps(steps, ok, read, starts, band, step)


def grid_lean(page_bgr: np.ndarray, prob: np.ndarray, px_per_mm: float) -> GridLean | None:
    """The lean of the page's vertical grid lines (trace ink, by the trace map `prob`, left out),
    or None without a readable grid. Each band's step against the band above it is smoothed
    where both bands read, taken as none where they do not (text, margins, glare: no lean
    rather than a guessed one), and summed down the page."""
    st = _band_steps(page_bgr, prob, px_per_mm, STEP_MM)
    if st is None or (st.read / len(st.starts) >= MIN_READ_FRACTION).mean() < 0.5:
        return None
    wt = st.ok.astype(np.float64)
    sx, sy = SMOOTH_ALONG_MM * px_per_mm, SMOOTH_FIELD_MM * px_per_mm / st.step
    num = cv2.GaussianBlur(st.steps * wt, (0, 0), sigmaX=sx, sigmaY=sy)
    den = cv2.GaussianBlur(wt, (0, 0), sigmaX=sx, sigmaY=sy)
    # Where few neighbours read, the smoothed step fades to none (num is small there too).
    smooth = num / np.maximum(den, STEP_SUPPORT)
    return GridLean(np.cumsum(smooth, axis=0), st.starts + 0.5 * st.band)


def page_shear(page_bgr: np.ndarray, px_per_mm: float) -> float | None:
    """The vertical grid lines' lean common to the whole page (dx/dy), or None where too few
    bands read: the median of every band-to-band step read, so a fold or a curl that bends one
    part of the page does not set it. Bands a band apart (no overlap) are enough for one figure;
    the traces are left in (their strokes are a small share of the columns)."""
    st = _band_steps(page_bgr, None, px_per_mm, BAND_MM)
    if st is None or st.ok.sum() < SHEAR_MIN_READ * st.ok.shape[1]:
        return None
    return float(np.median(st.steps[st.ok])) / st.step


REMAP_CHUNK_ROWS = 256  # rows resampled at once: the coordinate maps stay small


@dataclass
class RowsUpright:
    """Resampling that stands the grid upright about each row: every pixel row takes its band's
    shift less that of the nearest row centre, so x at each row's own level is unchanged."""

    lean: GridLean
    centres: np.ndarray  # the rows' centres (rectified y)
    active: np.ndarray  # per row: its grid leans enough to be stood upright

    def moves(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """How far (px, along x) each pixel (ys x xs) is taken from."""
        near = np.abs(ys[:, None] - self.centres[None, :]).argmin(axis=1)
        d = self.lean.rows_at(ys)[:, xs]
        d -= self.lean.rows_at(self.centres)[near][:, xs]
        d[~self.active[near]] = 0.0
        return d

    def to_page(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """x on the page as rectified of points (px, py) of the upright maps (NaN y: unmoved)."""
        ok = np.isfinite(py)
        y = np.where(ok, py, self.centres[0])
        near = np.abs(y[:, None] - self.centres[None, :]).argmin(axis=1)
        d = self.lean.at(px, y) - self.lean.at(px, self.centres[near])
        return px + np.where(ok & self.active[near], d, 0.0)

    def map_x(self, y0: int, y1: int, w: int) -> np.ndarray:
        """Source x (float32) of every pixel in rows y0..y1."""
        d = self.moves(np.arange(y0, y1, dtype=np.float64), np.arange(w))
        d += np.arange(w)[None, :]
        return d.astype(np.float32)

    def remap(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """`a` (HxW) resampled (linear) into `out` (a new array, or `a` itself: each pixel row
        is taken from the same row of `a` only, so a band of rows at a time can be
        overwritten)."""
        h, w = a.shape[:2]
        out = np.empty_like(a) if out is None else out
        for y0 in range(0, h, REMAP_CHUNK_ROWS):
            y1 = min(y0 + REMAP_CHUNK_ROWS, h)
            mx = self.map_x(y0, y1, w)
            my = np.ascontiguousarray(
                np.broadcast_to(np.arange(y1 - y0, dtype=np.float32)[:, None], mx.shape)
            )
            out[y0:y1] = cv2.remap(
                a[y0:y1], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        return out


def rows_upright(
    page_bgr: np.ndarray, prob: np.ndarray, centres: list[float], px_per_mm: float
) -> RowsUpright | None:
    """The resampling that stands the grid upright about each row, or None where the grid cannot
    be read or does not lean enough to matter."""
    if not centres:
        return None
    lean = grid_lean(page_bgr, prob, px_per_mm)
    if lean is None:
        return None
    c = np.asarray(centres, np.float64)
    up = RowsUpright(lean, c, np.ones(len(c), bool))
    h, w = prob.shape
    ys = np.arange(0, h, 3, dtype=np.float64)
    mv = np.abs(up.moves(ys, np.arange(0, w, 4)))
    near = np.abs(ys[:, None] - c[None, :]).argmin(axis=1)
    close = np.abs(ys - c[near]) <= ROW_LEAN_MM * px_per_mm
    up.active = np.array(
        [
            bool((near == r).any() and np.percentile(mv[(near == r) & close], 95) >= ROW_LEAN_PX)
            for r in range(len(c))
        ]
    )
    return up if up.active.any() else None
