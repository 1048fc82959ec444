"""Local time axis from the grid: a curled, crumpled or lens-distorted page stretches some parts
of a row more than others, so one px/mm for the whole page lets timing drift along the row. The
printed grid is a ruler under every trace: demodulating the vertical grid lines beside each row
gives its millimetre position at every column (the unwrapped phase of the 5 mm or 1 mm line
pattern), which is what the time axis should follow."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .grid import grid_darkness
from .numeric import percentile

MIN_COVERAGE = 0.6  # fraction of a row's span where the grid pattern must be readable
MAX_STRETCH = 0.25  # local scale may differ from the page scale by at most this fraction
SLIP_MM = 3.0  # rows' rulers part by more than this within SLIP_WINDOW_MM: a slipped 5 mm period
SLIP_WINDOW_MM = 25.0
FLAT_BEND_MM = (
    0.05  # a ruler or level whose smooth bend stays this close to a straight line is read as one
)
BEND_FIT_DEG = 3  # lens and perspective residue along a row: a cubic
BEND_FIT_TOL_MM = 0.1  # columns within this of the robust cubic agree with it
BEND_FIT_INLIERS = 0.6  # ...and when this fraction does, the cubic is the ruler (glitches outvoted)
BEND_BROAD_MM = 40.0  # what the cubic leaves, wider than a glitch, is bend too
BEND_MEDIAN_MM = 12.0  # otherwise (crumpled paper) the reading itself, median- then
BEND_SMOOTH_MM = 4.0  # Gaussian-smoothed


@dataclass
class RowRuler:
    """Millimetres along one row: mm[x] for every rectified column x (monotonic)."""

    mm: np.ndarray
    period_mm: float  # the grid period that was followed (5 or 1)
    coverage: float  # fraction of the span read from the grid (the rest interpolated)


def _band_profile(dark: np.ndarray, ink: np.ndarray, y0: int, y1: int) -> np.ndarray:
    """Mean grid darkness per column over rows y0..y1, leaving out trace ink."""
    d = dark[y0:y1].astype(np.float64, copy=False)
    keep = ~ink[y0:y1]
    n = keep.sum(axis=0)
    s = np.where(keep, d, 0.0).sum(axis=0)
    return np.where(n > 0, s / np.maximum(n, 1), 0.0)


def _high_pass(p: np.ndarray, f0: float) -> np.ndarray:
    """Profile minus its smooth level (paper shading, ink), keeping the grid period 1/f0."""
    return (
        p - cv2.GaussianBlur(p.reshape(1, -1).astype(np.float64), (0, 0), sigmaX=2.0 / f0).ravel()
    )


def _demodulate(hp: np.ndarray, f0: float, sigma: float) -> np.ndarray:
    """Complex envelope of the high-passed profile `hp` at f0 cycles/px, low-passed with a
    Gaussian of `sigma` px."""
    x = np.arange(len(hp), dtype=np.float64)
    return _blur_complex(hp * np.exp(-2j * np.pi * f0 * x), sigma)


def _blur_complex(z: np.ndarray, sigma: float) -> np.ndarray:
    """A complex row vector low-passed with a Gaussian of `sigma` px (real and imaginary parts)."""
    re = cv2.GaussianBlur(z.real.reshape(1, -1), (0, 0), sigmaX=sigma).ravel()
    im = cv2.GaussianBlur(z.imag.reshape(1, -1), (0, 0), sigmaX=sigma).ravel()
    return re + 1j * im


def _segment_rate(x: np.ndarray, u: np.ndarray, f0: float) -> float | None:
    """Periods per px over one readable stretch (a line fitted to its unwrapped phase), or None
    where the stretch holds under ten periods or runs outside what paper can stretch."""
    if len(x) < 10.0 / f0:
        return None
    rate = float(np.polyfit(x, u, 1)[0])
    return rate if abs(rate / f0 - 1.0) <= MAX_STRETCH else None


def unwrap_segments(z: np.ndarray, good: np.ndarray, f0: float) -> np.ndarray | None:
    """Grid position u(x) in periods from the complex envelope z. The phase is unwrapped only
    inside readable stretches; where it runs faster or slower than paper can stretch (a slip
    under glare, a shadow, a fold) the stretch is cut. Each stretch is then joined to the one
    before it with the whole number of periods that best continues both across the gap at their
    own measured scales (the page scale where a stretch is too short to measure), and gaps are
    bridged linearly."""
    n = len(z)
    ph = np.angle(z)
    dph = np.angle(np.exp(1j * np.diff(ph)))  # wrapped phase step per pixel
    # Local rate in periods/px must stay near f0: |d(u)/dx / f0 - 1| <= MAX_STRETCH.
    rate_ok = np.abs((f0 + dph / (2 * np.pi)) / f0 - 1.0) <= MAX_STRETCH
    ok = good.copy()
    ok[1:] &= rate_ok
    idx = np.flatnonzero(ok)
    if len(idx) < 2:
        return None
    br = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[br + 1]])
    ends = np.concatenate([idx[br], [idx[-1]]])
    min_len = max(2, int(round(1.0 / f0)))  # a stretch must hold at least one period
    keep = (ends - starts + 1) >= min_len
    starts, ends = starts[keep], ends[keep]
    if len(starts) == 0:
        return None
    x = np.arange(n, dtype=np.float64)
    u = np.full(n, np.nan)
    prev = None
    for s0, e0 in zip(starts, ends):
        seg = f0 * x[s0 : e0 + 1] + np.unwrap(ph[s0 : e0 + 1]) / (2 * np.pi)
        rate = _segment_rate(x[s0 : e0 + 1], seg, f0)
        if prev is not None:
            # Meet half-way across the gap, each side carried at its own measured scale (the
            # page scale can be off by a percent, a full period over a long glare gap).
            p_end, p_rate = prev
            r_before = p_rate or rate or f0
            r_after = rate or p_rate or f0
            mid = 0.5 * (p_end + s0)
            seg = seg + np.round(
                (u[p_end] + r_before * (mid - p_end)) - (seg[0] - r_after * (s0 - mid))
            )
        u[s0 : e0 + 1] = seg
        prev = (e0, rate)
    have = np.flatnonzero(np.isfinite(u))
    lo, hi = have[0], have[-1]
    u = np.interp(x, have, u[have])
    u[:lo] = u[lo] - f0 * (lo - x[:lo])
    u[hi + 1 :] = u[hi] + f0 * (x[hi + 1 :] - hi)
    return u


def row_rulers(
    page_bgr: np.ndarray,
    prob: np.ndarray,
    centres: list[float],
    pitch: float,
    px_per_mm: float,
    spans: list[tuple[int, int] | None],
    dark: np.ndarray | None = None,
) -> list[RowRuler | None]:
    """A RowRuler for each row whose grid is readable along most of its span (else None).

    The band between a row's centre and half-way to its neighbours carries the vertical grid
    lines; their phase at the 5 mm period (major lines) or, where only minor lines or dots are
    printed, the 1 mm period is unwrapped along x."""
    h, w = prob.shape
    dark = grid_darkness(page_bgr) if dark is None else dark  # read in float64, band by band
    ink = prob >= 0.3
    ink = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    half = max(3.0 * px_per_mm, 0.45 * pitch)
    out: list[RowRuler | None] = []
    for c, span in zip(centres, spans):
        if span is None:
            out.append(None)
            continue
        a, b = max(0, span[0]), min(w, span[1] + 1)
        if b - a < 20 * px_per_mm:
            out.append(None)
            continue
        y0, y1 = int(max(0, c - half)), int(min(h, c + half))
        p = _band_profile(dark, ink, y0, y1)
        best = None
        for period_mm in (5.0, 1.0):
            f0 = 1.0 / (period_mm * px_per_mm)
            hp = _high_pass(p, f0)
            z = _demodulate(hp, f0, sigma=6.0 * px_per_mm)
            mag = np.abs(z)
            # Readable where the envelope clearly beats the residual (noise, ink, text) level.
            noise = float(np.median(np.abs(hp[a:b]))) + 1e-6
            good = mag >= 0.35 * noise
            cov = float(good[a:b].mean())
            if best is None or cov > best[0]:
                best = (cov, period_mm, f0, z, good)
        if best is None or best[0] < MIN_COVERAGE:
            out.append(None)
            continue
        cov, period_mm, f0, z, good = best
        u = unwrap_segments(z, good, f0)
        if u is None:
            out.append(None)
            continue
        mm = u * period_mm
        slope = np.gradient(mm)
        nominal = 1.0 / px_per_mm
        if np.any(np.abs(slope[a:b] / nominal - 1.0) > MAX_STRETCH):
            out.append(None)
            continue
        mm = np.maximum.accumulate(mm)
        mm = np.maximum.accumulate(smooth_grid_reading(mm, a, b, px_per_mm))
        out.append(RowRuler(mm, period_mm, cov))
    return out


def slipped_rulers(
    rulers: list[RowRuler | None], rows: list[int], a: int, b: int, px_per_mm: float
) -> set[int]:
    """Rows (of `rows`, whose rulers are set) whose ruler slipped a whole 5 mm period somewhere
    over columns a..b. The rows of one page bend together: against the median of the others a
    ruler may drift slowly (perspective residue, a curl) or by a millimetre or two (crumples),
    but not jump by SLIP_MM within SLIP_WINDOW_MM. Where only two rows are ruled, a jump
    between them drops both: which one slipped cannot be told."""
    if len(rows) < 2 or b - a < 4:
        return set()
    xs = np.arange(a, b, max(1, int(round(px_per_mm))))
    mm = {i: r.mm[xs] - r.mm[a] for i in rows if (r := rulers[i]) is not None}
    lag = max(1, int(round(SLIP_WINDOW_MM)))  # samples are ~1 mm apart
    out = set()
    for i in rows:
        ref = np.median([mm[j] for j in rows if j != i], axis=0)
        dev = mm[i] - ref
        if len(dev) > lag and float(np.max(np.abs(dev[lag:] - dev[:-lag]))) > SLIP_MM:
            out.add(i)
    return out


def _running_median(v: np.ndarray, size: int) -> np.ndarray:
    """Median over a centred window of `size` (odd) samples, the ends padded with their values
    (numpy only: scipy.ndimage would add ~35 MB to the device's resident memory)."""
    h = size // 2
    p = np.pad(v, h, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(p, size), axis=1)


def smooth_grid_reading(mm: np.ndarray, a: int, b: int, px_per_mm: float) -> np.ndarray:
    """A ruler (mm along the row) or a level (mm the grid sits lower) read over columns a..b,
    cleaned of reading noise. Phase glitches (lead labels and boundaries, text, glare) are local;
    what a lens, a curl or a slightly wrong perspective leaves is a smooth bend. A robust cubic
    that most of the row follows is that bend (a straight line when it bends less than
    FLAT_BEND_MM: a flat scan gains nothing from its phase wiggles); a row it does not fit
    (crumpled or folded paper) keeps its own reading, median- and Gaussian-smoothed."""
    w = len(mm)
    x = np.arange(w, dtype=np.float64)
    line = np.polyval(np.polyfit(x[a:b], mm[a:b], 1), x)
    r = mm[a:b] - line[a:b]
    t = (x[a:b] - 0.5 * (a + b)) / (0.5 * (b - a))
    wt = np.ones_like(r)
    for _ in range(5):  # Tukey-biweighted least squares
        coef = np.polyfit(t, r, BEND_FIT_DEG, w=wt)
        e = np.abs(r - np.polyval(coef, t)) / BEND_FIT_TOL_MM
        wt = np.where(e < 1.0, (1.0 - e**2) ** 2, 0.0) + 1e-6
    q = np.polyval(coef, t)

    def smooth(v: np.ndarray, median_mm: float) -> np.ndarray:
        v = _running_median(v, int(round(median_mm * px_per_mm)) | 1)
        return cv2.GaussianBlur(
            v.reshape(1, -1),
            (0, 0),
            sigmaX=BEND_SMOOTH_MM * px_per_mm,
            borderType=cv2.BORDER_REPLICATE,
        ).ravel()

    if float(np.mean(np.abs(r - q) < BEND_FIT_TOL_MM)) >= BEND_FIT_INLIERS:
        broad = smooth(r - q, BEND_BROAD_MM)
        model = q + broad if float(np.max(np.abs(broad))) >= BEND_FIT_TOL_MM else q
        lin = np.polyval(np.polyfit(t, model, 1), t)
        if float(np.max(np.abs(model - lin))) < FLAT_BEND_MM:
            model = lin
    else:
        model = smooth(r, BEND_MEDIAN_MM)
    full = np.empty(w)
    full[a:b] = model
    full[:a] = model[0]
    full[b:] = model[-1]
    return line + full


MAX_TILT = 0.15  # px/px: a steeper step between neighbouring columns is a slipped period
MAX_LEVEL_MM = 15.0  # a row's grid lines may rise or fall by at most this along the row
LEVEL_SMOOTH_MM = 5.0  # paper bends and waves over centimetres; finer phase wiggles are noise
LEVEL_MIN_REL_MAG = 0.5  # a column's grid must show at least this strongly against the row's median
MAX_LEVEL_RESID_MM = 1.0  # the readable columns must follow the row's smooth bend this closely


def row_levels(
    page_bgr: np.ndarray,
    prob: np.ndarray,
    centres: list[float],
    pitch: float,
    px_per_mm: float,
    spans: list[tuple[int, int] | None],
    dark: np.ndarray | None = None,
) -> list[np.ndarray | None]:
    """For each row, how far (px, + = down) the horizontal grid lines beside it sit below where
    they sit at the row's start, at every column (else None): a residual tilt, a curl or a
    bend of the paper moves the trace's baseline with them, and the printed mV are measured
    from them. Read like the rulers, from the phase of the 5 mm or 1 mm line pattern along y."""
    h, w = prob.shape
    dark = grid_darkness(page_bgr) if dark is None else dark  # read in float64, band by band
    ink = prob >= 0.3
    ink = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    half = max(3.0 * px_per_mm, 0.45 * pitch)
    out: list[np.ndarray | None] = []
    for c, span in zip(centres, spans):
        if span is None or span[1] - span[0] < 20 * px_per_mm:
            out.append(None)
            continue
        a, b = max(0, span[0]), min(w, span[1] + 1)
        y0, y1 = int(max(0, c - half)), int(min(h, c + half))
        d = dark[y0:y1].astype(np.float64, copy=False)
        keep = ~ink[y0:y1]
        n_keep = keep.sum(axis=0)
        # Each column less its mean paper level (trace ink left out), tapered at the band's ends.
        hp = np.where(keep, d - (np.where(keep, d, 0.0).sum(axis=0) / np.maximum(n_keep, 1)), 0.0)
        ys = np.arange(y0, y1, dtype=np.float64)
        taper = np.hanning(y1 - y0)
        best = None
        for period_mm in (5.0, 1.0):
            f0 = 1.0 / (period_mm * px_per_mm)
            z = _blur_complex((np.exp(-2j * np.pi * f0 * ys) * taper) @ hp, 4.0 * px_per_mm)
            mag = np.abs(z)
            noise = (
                float(np.median((np.abs(hp[:, a:b]) * taper[:, None]).sum(axis=0)))
                / np.sqrt(max(1, y1 - y0))
                + 1e-9
            )
            good = mag >= 0.5 * noise
            cov = float(good[a:b].mean())
            if best is None or cov > best[0]:
                best = (cov, f0, z, good)
        assert best is not None  # both periods were tried
        cov, f0, z, good = best
        if cov < MIN_COVERAGE:
            out.append(None)
            continue
        # Where the grid shows much more weakly than along the rest of the row (glare, a stain,
        # a fold's shadow) its phase is mostly noise: those columns are bridged, not followed.
        mag = np.abs(z)
        good = good & (mag >= LEVEL_MIN_REL_MAG * float(np.median(mag[a:b][good[a:b]])))
        idx = np.flatnonzero(good[a:b]) + a
        got = level_from_phase(z[idx], idx, f0)
        if got is None or np.ptp(got[1]) > MAX_LEVEL_MM * px_per_mm:
            out.append(None)
            continue
        idx, dy = got
        # Paper bends and waves over centimetres (a curl, crumples, a fold's kink): a running
        # average of the readable columns over LEVEL_SMOOTH_MM (weighted by how clearly the grid
        # shows) follows that and drops the reading noise. Stretches joined with the wrong number
        # of periods leave a step it cannot follow: such a row keeps its straight baseline.
        wt = mag[idx]
        lv = _smooth_level(idx, dy, wt, w, LEVEL_SMOOTH_MM * px_per_mm)
        resid = np.abs(dy - lv[idx])
        if float(percentile(resid, 95.0)) > MAX_LEVEL_RESID_MM * px_per_mm:
            out.append(None)
            continue
        # A flat page (scanner, flatbed photo) only tilts: its phase wiggles are reading noise.
        lv = smooth_grid_reading(lv / px_per_mm, a, b, px_per_mm) * px_per_mm
        out.append(lv - lv[a])
    return out


def _smooth_level(
    idx: np.ndarray, dy: np.ndarray, wt: np.ndarray, w: int, sigma: float
) -> np.ndarray:
    """Level at every column: the readable columns' levels averaged with a Gaussian of `sigma`
    px (weighted by how clearly the grid shows), held flat beyond the first and last of them."""
    num = np.zeros(w)
    den = np.zeros(w)
    num[idx] = wt * dy
    den[idx] = wt
    k = dict(ksize=(0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
    num = cv2.GaussianBlur(num.reshape(1, -1), **k).ravel()
    den = cv2.GaussianBlur(den.reshape(1, -1), **k).ravel()
    x = np.arange(w, dtype=np.float64)
    ok = den > 1e-3 * float(den.max())
    lv = np.where(ok, num / np.maximum(den, 1e-12), np.nan)
    have = np.flatnonzero(ok)
    return np.interp(x, have, lv[have])


def level_from_phase(
    z: np.ndarray, idx: np.ndarray, f0: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Vertical grid displacement (px) from the complex envelope z at readable columns `idx`,
    as (columns kept, displacement there). The phase is unwrapped within stretches where it moves
    no faster than paper can tilt; a steeper step (a slipped period under glare or a fold, or
    noise where the grid fades) ends a stretch. Stretches shorter than a period are dropped, and
    each other one joins the one before with the whole number of periods that keeps the level
    continuous."""
    if len(idx) < 2:
        return None
    ph = np.angle(z)
    step = np.angle(np.exp(1j * np.diff(ph))) / (2 * np.pi * f0)  # wrapped step, px
    cut = np.abs(step) / np.maximum(np.diff(idx), 1) > MAX_TILT
    bounds = np.concatenate([[0], np.flatnonzero(cut) + 1, [len(idx)]])
    period = 1.0 / f0
    keep = np.zeros(len(idx), bool)
    dy = np.zeros(len(idx))
    prev = None
    for s0, e0 in zip(bounds[:-1], bounds[1:]):
        if idx[e0 - 1] - idx[s0] < period:
            continue
        seg = -ph[s0] / (2 * np.pi * f0) - np.concatenate([[0.0], np.cumsum(step[s0 : e0 - 1])])
        if prev is not None:
            seg = seg + period * np.round((prev - seg[0]) / period)
        dy[s0:e0] = seg
        keep[s0:e0] = True
        prev = seg[-1]
    if not keep.any():
        return None
    return idx[keep], dy[keep]
