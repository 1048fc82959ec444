"""Trace extraction: per printed row, a minimum-cost path through the trace-probability map
(dynamic programming; vertical moves are cheap through ink and expensive through paper, so the
path follows steep QRS strokes and stays on its own trace where rows overlap), then sub-pixel
positions with peaks and troughs restored from the ink run of each column."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

INK = 0.5  # probability above which a pixel counts as ink for runs
BRIDGE = 2  # pixels of any value a run may cross to reach firm ink again: a stroke
# crossing a dark grid line can vanish there after grid suppression
STEP_COST = 0.003  # cost per pixel of vertical travel even through ink (keeps paths tight)
TRAVEL_INK = 0.4  # probability from which vertical travel is free: faint, blurred QRS strokes count


@dataclass
class RowTrace:
    y: np.ndarray  # float, per column x: trace centre (rectified px), NaN where no ink
    ink: np.ndarray  # float, per column: probability at the path (0..1)
    line_width: float  # px
    px: np.ndarray | None = None  # polyline x (sub-column points: strokes, apexes), sorted
    py: np.ndarray | None = None  # polyline y, NaN marks a gap


def _cummin_arg(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running minimum along axis 1 and the index where it was attained."""
    cm = np.minimum.accumulate(v, axis=1)
    idx = np.broadcast_to(np.arange(v.shape[1]), v.shape)
    arg = np.maximum.accumulate(np.where(v <= cm, idx, 0), axis=1)
    return cm, arg


def dp_paths(
    prob: np.ndarray,
    centres: list[float],
    half: float,
    *,
    prior: float = 0.3,
    x_range: tuple[int, int] | None = None,
) -> list[np.ndarray]:
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
    node = np.ones((R, x1 - x0, hb), np.float32)
    trav = np.ones((R, x1 - x0, hb), np.float32)
    for r, t in enumerate(tops):
        a, b = max(0, t), min(h, t + hb)
        if b > a:
            node[r, :, a - t : b - t] = 1.0 - prob[a:b, x0:x1].T
            # p dilated along x only, so each band is dilated alone (no page-sized copy)
            pd = cv2.dilate(prob[a:b], np.ones((1, 3), np.uint8))
            trav[r, :, a - t : b - t] = (1.0 - np.minimum(1.0, pd[:, x0:x1].T / TRAVEL_INK)) ** 2
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


def _ink_runs(prob: np.ndarray, xs: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's ink run around the path: (top, bottom) rows. A stroke crossing a dark grid
    line loses contrast there (the trace-probability stage suppresses grid colour): up to BRIDGE
    pixels are crossed when firm ink resumes right after them, so QRS spikes are not cut at the
    first line."""
    h = prob.shape[0]
    top = yp.copy()
    bot = yp.copy()
    alive_t = prob[yp, xs] >= INK
    alive_b = alive_t.copy()
    for _ in range(int(0.5 * h)):
        if not (alive_t.any() or alive_b.any()):
            break
        top, alive_t = _grow(prob, xs, top, alive_t, -1)
        bot, alive_b = _grow(prob, xs, bot, alive_b, +1)
    return top, bot


def _centroid(
    wmap: np.ndarray, prob: np.ndarray, xs: np.ndarray, yp: np.ndarray, lw: float
) -> tuple[np.ndarray, np.ndarray]:
    """Darkness-weighted centroid within the line width around the path (flat parts), and the
    strongest trace probability near the path in each column."""
    h = prob.shape[0]
    rad = int(np.ceil(lw / 2)) + 1
    offs = np.arange(-rad, rad + 1)
    ys = np.clip(yp[None, :] + offs[:, None], 0, h - 1)
    pw = wmap[ys, xs[None, :]].astype(np.float64)
    pw = np.maximum(pw - 0.15 * pw.max(axis=0, keepdims=True), 0.0)
    sw = pw.sum(axis=0)
    cen = np.where(sw > 0, (pw * ys).sum(axis=0) / np.maximum(sw, 1e-9), yp)
    near = np.maximum(prob[yp, xs], prob[ys, xs[None, :]].max(axis=0))
    return cen, near


def _shifted(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v of the previous and of the next column (edges repeated)."""
    return np.concatenate([[v[0]], v[:-1]]), np.concatenate([v[1:], [v[-1]]])


def _apexes(
    a: np.ndarray, b: np.ndarray, mid: np.ndarray, cen: np.ndarray, tall: np.ndarray, lw: float
) -> tuple[np.ndarray, np.ndarray]:
    """Columns whose span reaches above both neighbours (a peak) or below them (a trough)."""
    prev_mid, next_mid = _shifted(mid)
    prev_a, next_a = _shifted(a)
    prev_b, next_b = _shifted(b)
    peak = tall & (a < prev_a - 0.5) & (a < next_a - 0.5)
    trough = tall & (b > prev_b + 0.5) & (b > next_b + 0.5)
    both = peak & trough
    peak &= ~both | ((prev_mid + next_mid) / 2 > mid)
    trough &= ~peak
    return _plateau_apexes(a, b, cen, tall, lw, peak, trough)


def refine_path(
    prob: np.ndarray, path: np.ndarray, x0: int = 0, dark: np.ndarray | None = None
) -> RowTrace:
    """Sub-pixel trace from the DP path. Each column's ink run around the path gives the span
    the signal covers in that column: flat parts get the darkness-weighted centroid, stroke
    columns contribute their entry and exit levels, an apex (run reaching above both
    neighbours) its tip, so QRS peaks keep their height and steep strokes their timing."""
    h, w = prob.shape
    n = len(path)
    xs = np.arange(x0, x0 + n)
    yp = np.clip(path, 0, h - 1)
    top, bot = _ink_runs(prob, xs, yp)
    length = bot - top + 1
    has_ink = prob[yp, xs] >= INK
    lw = float(np.median(length[has_ink])) if has_ink.any() else 2.0
    lw = max(1.0, min(lw, 8.0))
    wmap = dark if dark is not None else prob
    cen, near = _centroid(wmap, prob, xs, yp, lw)
    valid = near >= 0.25
    half = 0.5 * (lw - 1)
    a = np.where(has_ink, top + half, cen)  # upper end of the signal span in this column
    b = np.where(has_ink, bot - half, cen)  # lower end
    tall = (b - a) > 1.0
    a = np.where(tall, a, cen)
    b = np.where(tall, b, cen)
    mid = np.where(tall, 0.5 * (a + b), cen)
    peak, trough = _apexes(a, b, mid, cen, tall, lw)
    prev_mid, next_mid = _shifted(mid)
    rising = prev_mid > next_mid  # y decreasing: the signal goes up
    px = np.empty(2 * n)
    py = np.empty(2 * n)
    first = np.where(rising, b, a)
    second = np.where(rising, a, b)
    first = np.where(peak, a, np.where(trough, b, first))
    second = np.where(peak, a, np.where(trough, b, second))
    # Apex/trough columns: one point at the column centre (both entries equal).
    px[0::2] = np.where(peak | trough, xs, xs - 0.25)
    px[1::2] = np.where(peak | trough, xs + 1e-3, xs + 0.25)
    py[0::2] = np.where(valid, first, np.nan)
    py[1::2] = np.where(valid, second, np.nan)
    yc = np.where(valid, mid, np.nan)
    kind = np.repeat(np.where(peak, 1, np.where(trough, -1, 0)), 2).astype(np.int8)
    steep = np.repeat(tall, 2)
    if dark is not None:
        sloped = has_ink & ((bot - top + 1) > lw + 1)
        ex, ey, drop = _stroke_points(
            prob, wmap, xs, top, bot, sloped & valid, lw, rising, valid & ~peak & ~trough
        )
        if len(ex):
            keep = ~np.repeat(drop, 2)
            px, py = np.concatenate([px[keep], ex]), np.concatenate([py[keep], ey])
            kind = np.concatenate([kind[keep], np.zeros(len(ex), np.int8)])
            steep = np.concatenate([steep[keep], np.ones(len(ex), bool)])
            order = np.argsort(px, kind="stable")
            px, py, kind, steep = px[order], py[order], kind[order], steep[order]
    monotone_strokes(px, py, kind, steep, lw)
    return RowTrace(yc.astype(np.float64), near.astype(np.float64), lw, px, py)


def monotone_strokes(px, py, kind, steep, lw) -> None:
    """Between a QRS apex and the next trough (or trough and apex) the signal runs one way, but
    where blur merges the up- and down-stroke into one ink blob, points ordered by their x
    centres zig-zag (each a fraction of a pixel off). Inside such a stretch, steep columns only
    and no gap, the points keep their x and take the stretch's levels, clipped to its two
    extremes, in monotone order. Edits py in place."""
    ends = np.flatnonzero(kind != 0)
    longest = max(12.0, 4.0 * lw)
    for p, q in zip(ends[:-1], ends[1:]):
        if kind[p] == kind[q] or q - p < 2 or px[q] - px[p] > longest:
            continue
        seg = py[p + 1 : q]
        if not (
            np.isfinite(seg).all()
            and steep[p + 1 : q].all()
            and np.isfinite(py[p])
            and np.isfinite(py[q])
        ):
            continue
        v = np.sort(np.clip(seg, min(py[p], py[q]), max(py[p], py[q])))
        py[p + 1 : q] = v if kind[p] == 1 else v[::-1]  # apex -> trough: y grows (signal falls)


def _grow(prob: np.ndarray, xs: np.ndarray, end: np.ndarray, alive: np.ndarray, step: int):
    """One step of run growth in direction `step` (-1 up, +1 down): onto the nearest firm ink
    within BRIDGE + 1 pixels."""
    h = prob.shape[0]
    new = end.copy()
    moved = np.zeros_like(alive)
    for d in range(1, BRIDGE + 2):
        y = end + step * d
        inside = (y >= 0) & (y < h)
        hit = alive & ~moved & inside & (prob[np.clip(y, 0, h - 1), xs] >= INK)
        new = np.where(hit, y, new)
        moved |= hit
    return new, moved


def _plateau_apexes(a, b, cen, tall, lw, peak, trough):
    """Blur (defocus, motion, a thick pen) spreads a QRS tip over several columns that all reach
    the same height: no single column is above both neighbours, and reading those columns as
    strokes puts the tip half-way down. A tall column whose upper (lower) end is the extreme of
    its neighbourhood is an apex (trough); where both ends are, the end farther from the local
    baseline wins."""
    W = max(2, int(round(lw)))
    big = 1e9
    ap = np.pad(np.where(tall, a, big), W, constant_values=big)
    bp = np.pad(np.where(tall, b, -big), W, constant_values=-big)
    win_a = np.lib.stride_tricks.sliding_window_view(ap, 2 * W + 1).min(axis=1)
    win_b = np.lib.stride_tricks.sliding_window_view(bp, 2 * W + 1).max(axis=1)
    pk = tall & (a <= win_a + 0.75)
    tr = tall & (b >= win_b - 0.75)
    R = max(8, 6 * W)
    cp = np.pad(np.where(tall, np.nan, cen), R, constant_values=np.nan)
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(np.lib.stride_tricks.sliding_window_view(cp, 2 * R + 1), axis=1)
    ref = np.where(np.isfinite(ref), ref, cen)
    up = (ref - a) >= (b - ref)
    pk2 = pk & (up | ~tr)
    tr2 = tr & ~pk2
    return (peak | pk2) & ~(tr2 & ~peak), (trough | tr2) & ~pk2


def _stroke_points(prob, dark, xs, top, bot, stroke, lw, rising, takes):
    """Steep strokes: a 0.3 mm line that is nearly vertical inks neighbouring columns over its
    whole height, so 'y per column' smears its timing by up to a line width. Read steep strokes
    the other way round: for each pixel row of a steep column's ink run, the darkness-weighted x
    centre of the ink run nearest that column, kept where the stroke is at most a line width
    wide. The pooled (x centre, y) points go to the column whose x range holds them and replace
    that column's entry/exit points, ordered along the stroke (apex and trough columns keep
    theirs). Returns the points and which columns they replace."""
    h, w = prob.shape
    R = int(np.ceil(lw / 2)) + 1
    offs = np.arange(-R, R + 1)
    x0 = int(xs[0])
    seen: dict[tuple[int, int], float] = {}
    for i in np.flatnonzero(stroke):
        x = int(xs[i])
        if x - R < 0 or x + R >= w:
            continue
        # Leave out half a line width at both ends: there the stroke meets a flat stretch whose
        # row centres sit anywhere along it.
        ys = np.arange(int(np.ceil(top[i] + lw / 2)), int(np.floor(bot[i] - lw / 2)) + 1)
        if len(ys) < 2:
            continue
        m = prob[ys[0] : ys[-1] + 1, x - R : x + R + 1] >= 0.3
        run = _nearest_run(m, R)
        win = np.where(run, dark[ys[0] : ys[-1] + 1, x - R : x + R + 1].astype(np.float64), 0.0)
        sw = win.sum(axis=1)
        f = (win * offs).sum(axis=1) / np.maximum(sw, 1e-9)
        keep = (sw > 0) & (run.sum(axis=1) <= max(2.0, np.ceil(lw)))
        for y, fx in zip(ys[keep], f[keep]):
            xc = x + float(fx)
            seen.setdefault((int(y), int(round(xc * 4))), xc)
    drop = np.zeros(len(xs), bool)
    if not seen:
        return np.zeros(0), np.zeros(0), drop
    yy = np.array([k[0] for k in seen], np.float64)
    xx = np.array(list(seen.values()), np.float64)
    col = np.floor(xx + 0.5).astype(np.int64) - x0
    order = np.argsort(col, kind="stable")
    xx, yy, col = xx[order], yy[order], col[order]
    ex: list[np.ndarray] = []
    ey: list[np.ndarray] = []
    for sel in np.split(np.arange(len(col)), np.flatnonzero(np.diff(col)) + 1):
        i = int(col[sel[0]])
        if len(sel) < 2 or not 0 <= i < len(xs) or not takes[i]:
            continue
        fy = np.sort(yy[sel])
        ex.append(np.sort(xx[sel]))
        ey.append(fy[::-1] if rising[i] else fy)
        drop[i] = True
    if not ex:
        return np.zeros(0), np.zeros(0), drop
    return np.concatenate(ex), np.concatenate(ey), drop


def _nearest_run(m: np.ndarray, c: int) -> np.ndarray:
    """Per row of the boolean mask `m`, only the contiguous run that covers column `c` (or lies
    nearest to it): in a narrow QRS the up- and down-strokes sit a few pixels apart, and a
    centroid over both would put the stroke between them."""
    k = m.shape[1]
    start = m & ~np.concatenate([np.zeros((len(m), 1), bool), m[:, :-1]], axis=1)
    lab = np.cumsum(start, axis=1) * m
    dist = np.where(m, np.abs(np.arange(k) - c)[None, :], k + 1)
    pick = lab[np.arange(len(m)), np.argmin(dist, axis=1)]
    return m & (lab == pick[:, None])


def polyline_to_samples(
    px: np.ndarray, py: np.ndarray, x_of_sample: np.ndarray, max_gap: float = 1.5
) -> np.ndarray:
    """Interpolate the trace polyline at fractional x positions; NaN where the trace has a gap."""
    ok = np.isfinite(py)
    xv, yv = px[ok], py[ok]
    if len(xv) < 2:
        return np.full(len(x_of_sample), np.nan)
    out = np.interp(x_of_sample, xv, yv, left=np.nan, right=np.nan)
    # Samples between two valid points farther apart than max_gap columns are in a gap.
    k = np.searchsorted(xv, x_of_sample)
    k = np.clip(k, 1, len(xv) - 1)
    gap = (xv[k] - xv[k - 1]) > max_gap
    return np.where(gap, np.nan, out)


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


def smooth_samples(v: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass of a sampled trace (sigma in samples), NaN-aware: gaps stay gaps and
    do not pull their neighbours towards zero (normalised convolution)."""
    if sigma <= 0.05:
        return v
    ok = np.isfinite(v)
    if not ok.any():
        return v
    num = cv2.GaussianBlur(
        np.where(ok, v, 0.0).reshape(1, -1), (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE
    ).ravel()
    den = cv2.GaussianBlur(
        ok.astype(np.float64).reshape(1, -1), (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE
    ).ravel()
    return np.where(ok, num / np.maximum(den, 1e-9), np.nan)
