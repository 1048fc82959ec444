"""Grid calibration: px/mm in x and y and the residual rotation from the periodicity of the ECG
grid (1 mm / 5 mm), measured by Fourier analysis of strip profiles, so any grid colour, dotted
grids and faint grids work; falls back to the page size when no grid is printed."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .numeric import percentile

PLAUSIBLE_WIDTH_MM = (150.0, 460.0)  # what a printed page or gridded area can span


@dataclass
class GridCalibration:
    px_per_mm_x: float
    px_per_mm_y: float
    angle_deg: float  # rotation of the grid lines (positive: counter-clockwise in the image)
    confidence: float  # 0..1: how clearly periodic the grid is
    source: str  # "grid" or "page_size"

    def to_dict(self) -> dict:
        return {
            "px_per_mm_x": round(self.px_per_mm_x, 4),
            "px_per_mm_y": round(self.px_per_mm_y, 4),
            "angle_deg": round(self.angle_deg, 3),
            "confidence": round(self.confidence, 3),
            "source": self.source,
        }


def paper_window(shape: tuple[int, ...]) -> int:
    """The window (px, odd) the local paper brightness is taken over: ~1/60 of the image."""
    return max(3, int(round(min(shape[:2]) / 60)) | 1)


def _paper_level(channel: np.ndarray, k: int | None = None) -> np.ndarray:
    """The local paper brightness of one channel (same dtype): its local maximum over a window of
    `k` px (paper_window), smoothed, so lines and ink darker than the paper around them stand out
    against it."""
    k = paper_window(channel.shape) if k is None else k
    return cv2.blur(cv2.dilate(channel, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))), (k, k))


def darkest_channel(img_bgr: np.ndarray) -> np.ndarray:
    """Per pixel, the darkest of the colour channels (uint8; a grey image as it is): lines of any
    colour are dark in it. OpenCV's per-channel minimum, the same values as numpy's min over the
    channel axis at a fraction of its time."""
    if img_bgr.ndim != 3:
        return img_bgr
    b, g, r = cv2.split(img_bgr)
    return cv2.min(cv2.min(b, g), r)


def grid_darkness(img_bgr: np.ndarray, window: int | None = None) -> np.ndarray:
    """Float32 0..1 'how much darker than the local paper' using the darkest channel, so red, blue,
    green, orange or grey grid lines all show. `window`: the paper level's window (px), for a
    band of rows read alone (default: the image's own, paper_window)."""
    mn = darkest_channel(img_bgr).astype(np.float32)
    bg = _paper_level(mn, window)
    # In place: the same float32 values as clip(1 - mn / max(bg, 1)), one page-sized array less.
    np.maximum(bg, 1.0, out=bg)
    np.divide(mn, bg, out=bg)
    del mn
    np.subtract(1.0, bg, out=bg)
    return np.clip(bg, 0.0, 1.0, out=bg)


def without_ink(d: np.ndarray, img_bgr: np.ndarray) -> np.ndarray:
    """`d` (grid_darkness of `img_bgr`) with the trace and text ink blanked out: the beats of
    simultaneous leads line up down the page and their QRS strokes are periodic like grid lines,
    enough to out-score a faint grid's true period. Ink is dark in every colour channel, so a
    coloured grid line (dark only in some) is never taken for it; for a grey or black grid the
    cut also stays well above the page's common darkness (its grid lines)."""
    if img_bgr.ndim != 3:
        return d
    b, g, r = cv2.split(img_bgr)
    mx = cv2.max(cv2.max(b, g), r)  # uint8 throughout: the page may have 12 MP
    bg = _paper_level(mx)
    sub = (slice(None, None, 3), slice(None, None, 3))  # the page's darkness level from a sample
    dk = 1.0 - mx[sub].astype(np.float32) / np.maximum(bg[sub].astype(np.float32), 1.0)
    thr = max(0.5, 2.5 * float(percentile(dk, 90)))
    ink = (mx.astype(np.float32) < bg.astype(np.float32) * np.float32(1.0 - thr)).astype(np.uint8)
    ink = cv2.dilate(ink, np.ones((3, 3), np.uint8))
    return np.where(ink > 0, np.float32(0.0), d)


def _dft_at(prof: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Complex DFT of each profile row (K x N) at arbitrary frequencies (cycles/px) -> (K x F)."""
    x = np.arange(prof.shape[1], dtype=np.float64)
    w = np.hanning(prof.shape[1])
    basis = np.exp(-2j * np.pi * np.outer(x, freqs)) * w[:, None]
    return prof @ basis


def _strip_profiles(d: np.ndarray, strip: int) -> np.ndarray:
    """Mean over `strip` rows -> (n_strips x W) profiles, each with its mean removed."""
    h, w = d.shape
    n = max(1, h // strip)
    prof = cv2.resize(d[: n * strip], (w, n), interpolation=cv2.INTER_AREA).astype(np.float64)
    return prof - prof.mean(axis=1, keepdims=True)


def _comb_score(logp: np.ndarray, fr: np.ndarray, f0: np.ndarray, max_h: int) -> np.ndarray:
    """Weakest log-spectrum height among the first `max_h` harmonics of each candidate
    fundamental: a true fundamental has a peak at every one of them, a subharmonic misses half."""
    df = fr[1] - fr[0]
    out = np.full(len(f0), np.inf)
    for m in range(1, max_h + 1):
        f = m * f0
        idx = np.clip(np.round(f / df).astype(int), 0, len(logp) - 1)
        out = np.minimum(out, np.where(f < 0.45, logp[idx], np.inf))
    return np.where(np.isfinite(out), out, -10.0)


def lowest_strong(score: np.ndarray, freqs: np.ndarray, frac: float = 0.8) -> int:
    """Index of the candidate fundamental to take: the best scoring, or a lower one scoring at
    least `frac` of it that the best is a harmonic of (about 2, 3, ... times its frequency):
    twice the true fundamental hits only even harmonics, which are peaks too, and must not win.
    A lower candidate that is no such subharmonic is another pattern (a fold, crumples, the
    band's edge with a strong pattern just outside it) and must not win either."""
    best_i = int(np.argmax(score))
    best = float(score[best_i])
    if best <= 0:
        return best_i
    loc = np.flatnonzero(
        (score >= np.roll(score, 1)) & (score >= np.roll(score, -1)) & (score >= frac * best)
    )
    # The ends of the search band are not peaks: a strong pattern just outside it leaks in there.
    loc = loc[(loc > 0) & (loc < len(score) - 1) & (loc < best_i)]
    ratio = freqs[best_i] / np.maximum(freqs[loc], 1e-12)
    n = np.round(ratio)
    loc = loc[(n >= 2) & (np.abs(ratio - n) <= 0.03 * n)]
    return int(loc[0]) if len(loc) else best_i


def _period_along(
    d: np.ndarray, f_lo: float, f_hi: float, strip: int
) -> tuple[float, float, float]:
    """The 1 mm grid frequency along x (axis 1), searched in [f_lo, f_hi] cycles/px: found as the
    fundamental of the 5 mm pattern (harmonic comb), so blurred or missing 1 mm lines and
    strong 5 mm-line harmonics do not fool it. Returns (1 mm frequency, peak-to-median
    spectral ratio, phase slope in radians per row)."""
    prof = _strip_profiles(d, strip)
    n = prof.shape[1]
    nfft = 1 << int(np.ceil(np.log2(n * 4)))
    w = np.hanning(n)
    F = np.fft.rfft(prof * w, nfft, axis=1)
    # Line coherence: straight grid lines keep their phase from one strip to the next (up to a
    # slow drift when tilted), paper texture, noise and stains do not.
    if F.shape[0] > 1:
        spec = np.abs((F[1:] * np.conj(F[:-1])).sum(axis=0))
    else:
        spec = np.abs(F[0]) ** 2
    fr = np.fft.rfftfreq(nfft)
    band = (fr >= f_lo / 5) & (fr <= min(0.45, f_hi * 3))
    if not band.any():
        return 0.0, 0.0, 0.0
    med = float(np.median(spec[band])) + 1e-12
    # Max-pool over +-2 bins so a harmonic that falls between bins still counts.
    pooled = np.maximum.reduce([np.roll(spec, k) for k in range(-2, 3)])
    logp = np.log(np.maximum(pooled / med, 1e-3))
    df = fr[1] - fr[0]
    # Hypothesis A: 5 mm major lines (fundamental F5 = F1 / 5); B: only 1 mm lines or dots.
    f5 = np.arange(f_lo / 5, f_hi / 5, df / 2)
    f1 = np.arange(f_lo, f_hi, df / 2)
    if len(f5) == 0 or len(f1) == 0:
        return 0.0, 0.0, 0.0
    s5 = _comb_score(logp, fr, f5, 3)
    s1 = _comb_score(logp, fr, f1, 2)
    i5, i1 = lowest_strong(s5, f5), lowest_strong(s1, f1)
    comb = float(max(s5[i5], s1[i1]))
    if s5[i5] >= 2.0 or s5[i5] >= s1[i1]:
        base, mult = f5[i5], 5
        # Refine on the strongest of the first ten harmonics (precision grows with the order).
        hs = [m for m in range(1, 11) if m * base < 0.45]
        strength = [pooled[int(round(m * base / df))] for m in hs]
        m_best = hs[int(np.argmax(np.array(strength) * np.sqrt(hs)))]
    else:
        base, mult = f1[i1], 1
        m_best = 1
    # Snap to the actual spectral peak near the predicted harmonic before the fine search.
    i0 = int(round(base * m_best / df))
    lo_i, hi_i = max(1, i0 - 3), min(len(spec) - 1, i0 + 4)
    i_pk = lo_i + int(np.argmax(spec[lo_i:hi_i]))
    f_est = fr[i_pk]
    ratio = float(np.exp(comb))  # weakest harmonic's height over the median
    fine = f_est + np.linspace(-1.5 * df, 1.5 * df, 61)
    a = _dft_at(prof, fine)
    p = (np.abs(a) ** 2).sum(axis=0)
    j = int(np.argmax(p))
    if 0 < j < len(p) - 1:
        den = p[j - 1] - 2 * p[j] + p[j + 1]
        off = 0.5 * (p[j - 1] - p[j + 1]) / den if den < 0 else 0.0
        f = fine[j] + off * (fine[1] - fine[0])
    else:
        f = fine[j]
    amp = _dft_at(prof, np.array([f]))[:, 0]
    if len(amp) > 1:
        z = (amp[1:] * np.conj(amp[:-1])).sum()
        slope = float(np.angle(z)) / strip
    else:
        slope = 0.0
    # f is the m_best-th harmonic of base; the 1 mm frequency is base * mult.
    f1mm = f / m_best * mult
    if not f_lo <= f1mm <= f_hi:
        ratio = 0.0  # the refinement walked out of the band: not this grid
    # Phase slope was measured at frequency f: convert to the 1 mm frequency's scale.
    slope = slope * (f1mm / f)
    return float(f1mm), ratio, slope


def measure_grid(
    img_bgr: np.ndarray,
    *,
    width_mm_range: tuple[float, float] = PLAUSIBLE_WIDTH_MM,
    fallback_width_mm: float = 297.0,
) -> GridCalibration:
    """Measure px/mm from the 1 mm (or 5 mm harmonic) grid period in both axes of a roughly
    fronto-parallel page image. The search assumes the image spans `width_mm_range` mm."""
    d = without_ink(grid_darkness(img_bgr), img_bgr)
    h, w = d.shape
    # 1 mm period in px must make the page span a plausible width.
    f_lo, f_hi = width_mm_range[0] / w, width_mm_range[1] / w
    f_hi = min(f_hi, 0.45)
    strip = max(4, int(round(w / width_mm_range[1] * 3)))  # ~3 mm strips at the coarsest scale
    fx, rx, sx = _period_along(d, f_lo, f_hi, strip)
    ok_x = rx > 40.0
    if ok_x:
        f_lo_y, f_hi_y = fx * 0.9, fx * 1.11
    else:
        f_lo_y, f_hi_y = width_mm_range[0] / w, min(width_mm_range[1] / w, 0.45)
    fy, ry, sy = _period_along(d.T, f_lo_y, f_hi_y, strip)
    ok_y = ry > 40.0
    if not ok_x and not ok_y:
        k = w / fallback_width_mm
        return GridCalibration(k, k, 0.0, 0.0, "page_size")
    if not ok_x:
        fx = fy
    if not ok_y:
        fy = fx
    # Vertical lines tilt: x shift per row = -slope/(2 pi f); same for horizontal lines per column.
    tilt_v = -sx / (2 * np.pi * fx) if ok_x else None  # dx/dy of vertical lines
    tilt_h = -sy / (2 * np.pi * fy) if ok_y else None  # dy/dx of horizontal lines
    angles = []
    if tilt_v is not None:
        angles.append(np.degrees(np.arctan(tilt_v)))
    if tilt_h is not None:
        angles.append(-np.degrees(np.arctan(tilt_h)))
    angle = float(np.mean(angles)) if angles else 0.0
    conf = float(np.clip((min(rx, ry) if ok_x and ok_y else max(rx, ry) / 2) / 100.0, 0.0, 1.0))
    # Lines tilted by angle appear spaced by period / cos(angle) along the image axes.
    c = float(np.cos(np.radians(angle)))
    return GridCalibration(float(c / fx), float(c / fy), angle, conf, "grid")
