"""Layout and leads: find the printed rows in the trace-probability map, the calibration pulses
(gain and the 0 mV level), the printed time span, the layout (3x4, 3x4+1, 3x4+3, 6x2, 12x1) and
which lead each row segment shows."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..layouts import LAYOUTS, Layout

STANDARD_GAINS = (5.0, 10.0, 20.0)  # mm/mV (2.5 and 40 exist but are rare: use --gain)
STANDARD_SPEEDS = (12.5, 25.0, 50.0, 100.0)  # mm/s
TOP_ROW_MISFIT = 0.3  # limb-lead laws residual of a 3x4 reading that says the page is not one (0: they hold, ~1: unrelated)


@dataclass
class Rows:
    centres: list[float]  # y of each row's main ink line (rectified px)
    pitch: float  # typical distance between rows (px)
    upside_down_score: float  # > 0: more ink below the baselines than above (page upside down)


def _longest_run(flags: np.ndarray, max_gap: int) -> int:
    """Longest stretch of True allowing gaps of up to `max_gap` False entries."""
    idx = np.flatnonzero(flags)
    if len(idx) == 0:
        return 0
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    return int((ends - starts + 1).max())


def _add_rows_at_pitch(centres: list[float], weak: list[int]) -> list[float]:
    """Glare or a washed-out stretch breaks a trace into pieces: such a row (`weak`: long only when
    gaps of several mm are bridged) is accepted where it continues the even spacing of the rows
    already found, which header and footer text lines do not."""
    if len(centres) < 2 or not weak:
        return centres
    d = np.diff(sorted(centres))
    pitch = float(np.median(d[d >= 0.6 * d.max()]))  # a stray line between rows is not the pitch
    # A row missing between two found ones makes one gap twice the pitch: the pitch is the
    # smallest gap of which the others are whole multiples.
    for p in sorted(d[d >= 0.4 * d.max()]):
        m = d / p
        if (
            p < pitch
            and np.all(np.abs(m - np.round(m)) <= 0.1 * np.round(m))
            and np.all(np.round(m) >= 1)
        ):
            pitch = float(p)
            break
    out = sorted(centres)
    added = True
    while added:
        added = False
        for c in weak:
            if any(abs(c - o) < 0.5 * pitch for o in out):
                continue
            d = min(abs(c - o) for o in out)
            if 0.9 * pitch <= d <= 1.1 * pitch:
                out.append(float(c))
                out.sort()
                added = True
    return out


def _inked_columns(low: np.ndarray, centres: list[float], band: int) -> np.ndarray:
    """Columns holding ink within `band` px of any row centre: the span the rows cover."""
    h, w = low.shape
    span = np.zeros(w, bool)
    for r in centres:
        span |= low[max(0, int(r) - band) : min(h, int(r) + band + 1)].any(axis=0)
    return span


def _trace_like(prob: np.ndarray, c: float, centres: list[float], px_per_mm: float) -> bool:
    """A row broken or faded by glare: faint ink (prob >= 0.15) in every quarter of the span the
    rows already found cover, no thicker than their traces; text lines leave whole quarters
    empty and are letter-tall."""
    h, w = prob.shape
    band = int(6 * px_per_mm)
    low = prob >= 0.15
    cols = np.flatnonzero(_inked_columns(low, centres, band))
    if len(cols) == 0:
        return False
    x0, x1 = int(cols[0]), int(cols[-1]) + 1

    def thickness(y: float) -> float:
        # ink pixels per inked column: a trace line is thin, a line of text is letter-tall
        a, b = max(0, int(y) - band), min(h, int(y) + band + 1)
        n = low[a:b, x0:x1].sum(axis=0)
        return float(np.median(n[n > 0])) if (n > 0).any() else 0.0

    thin = float(np.median([thickness(r) for r in centres]))
    a, b = max(0, int(c) - band), min(h, int(c) + band + 1)
    has = low[a:b, x0:x1].any(axis=0)
    return (
        min(float(q.mean()) for q in np.array_split(has, 4)) >= 0.35
        and thickness(c) <= 1.5 * thin + 1
    )


def find_rows(prob: np.ndarray, px_per_mm: float) -> Rows:
    """Rows are horizontal bands holding one long continuous line of ink (text lines are broken
    by word gaps); their centres are the peaks of the horizontal ink projection. A thin pen under
    blur or glare leaves only broken, faint pieces: when fewer than two rows stand out, look again
    with half the ink threshold and pieces joined across 3 mm."""
    rows = _find_rows(prob, px_per_mm, 0.3, 1.2)
    again = _find_rows(prob, px_per_mm, 0.15, 3.0)
    if len(rows.centres) < 2:
        if len(again.centres) > len(rows.centres):
            rows = again
    else:
        # A row faded by glare or an exposure gradient may only show at the low threshold: add
        # it where it continues the rows' spacing and looks like a trace.
        extra = [
            c for c in again.centres if all(abs(c - r) > 0.3 * rows.pitch for r in rows.centres)
        ]
        if extra:
            more = _add_rows_at_pitch(
                rows.centres, [c for c in extra if _trace_like(prob, c, rows.centres, px_per_mm)]
            )
            if len(more) > len(rows.centres):
                rows = Rows(more, float(np.median(np.diff(more))), rows.upside_down_score)
    more = _complete_rows(prob, rows.centres, px_per_mm)
    if len(more) > len(rows.centres):
        rows = Rows(more, float(np.median(np.diff(more))), rows.upside_down_score)
    return rows


def _complete_rows(prob: np.ndarray, centres: list[float], px_per_mm: float) -> list[float]:
    """Rows the run test missed: glare, a fold shadow or a faint pen can leave a row in pieces
    with whole leads washed out, and steep strokes of a large trace can break every run. Where
    the found rows' spacing predicts a row (one pitch beyond the outer rows, or midway in a gap
    of two pitches), a band whose faint ink covers at least 40 % as many columns as the found
    rows do (glare can leave only a row's last two leads), in at least two quarters of their
    span, no thicker than their traces, crossing columns once as they do (text crosses them
    several times) and not one straight line (a grid or fold line), is a row. Judged against
    the page's own rows, so it holds for any pen, grid and lighting."""
    if len(centres) < 2:
        return list(centres)
    h, w = prob.shape
    low = prob >= 0.15
    out = sorted(float(c) for c in centres)
    band = int(round(min(6 * px_per_mm, 0.3 * float(np.min(np.diff(out))))))
    if band < 2:
        return out
    cs = np.cumsum(np.vstack([np.zeros((1, w), np.int32), low.astype(np.int32)]), axis=0)

    def rows_of(y: float) -> tuple[int, int]:
        return int(max(0, y - band)), int(min(h, y + band + 1))

    def counts(y: float) -> np.ndarray:
        a, b = rows_of(y)
        return cs[b] - cs[a]

    cols = np.flatnonzero(_inked_columns(low, out, band))
    if len(cols) < 20 * px_per_mm:
        return out
    x0, x1 = int(cols[0]), int(cols[-1]) + 1

    def cover(y: float) -> float:
        return float((counts(y)[x0:x1] > 0).mean())

    def thickness(y: float) -> float:
        n = counts(y)[x0:x1]
        return float(np.median(n[n > 0])) if (n > 0).any() else 0.0

    def one_curve(y: float) -> float:
        # share of inked columns crossed by one run of ink: a trace is one curve, while lines
        # of text (letters, stacked lines) cross a column several times
        a, b = rows_of(y)
        has = low[a:b, x0:x1]
        starts = (has[1:] & ~has[:-1]).sum(axis=0) + has[0]
        inked = has.any(axis=0)
        return float((starts[inked] == 1).mean()) if inked.any() else 0.0

    ref_cover = float(np.median([cover(c) for c in out]))
    thin = float(np.median([thickness(c) for c in out]))
    single = float(np.median([one_curve(c) for c in out]))
    step = max(1, int(round(0.5 * px_per_mm)))

    def row_at(pred: float, reach: float) -> float | None:
        ys = [
            y for y in range(int(pred - reach), int(pred + reach) + 1, step) if band <= y < h - band
        ]
        if not ys:
            return None
        covs = [cover(y) for y in ys]
        best = ys[int(np.argmax(covs))]
        a, b = rows_of(best)
        has = low[a:b, x0:x1]
        inked = has.any(axis=0)
        quarters = [float(q.mean()) for q in np.array_split(inked, 4)]
        if (
            max(covs) < max(0.3, 0.4 * ref_cover)
            or sorted(quarters)[-2] < 0.3
            or thickness(best) > 1.5 * thin + 1
            or one_curve(best) < 0.75 * single
        ):
            return None
        # Not one straight line: a trace has waves and spikes, columns inked over 2 mm or more.
        top = np.argmax(has, axis=0)
        bottom = has.shape[0] - 1 - np.argmax(has[::-1], axis=0)
        tall = ((bottom - top) >= 2 * px_per_mm) & inked
        if tall.sum() < max(3, 0.005 * inked.sum()):
            return None
        # The row's level: the image row with the most ink near the best-covered band.
        prof = has.sum(axis=1)
        return float(a + int(np.argmax(prof)))

    for _ in range(3):
        d = np.diff(out)
        pitch = float(np.min(d))
        m = d / pitch
        if np.any(np.abs(m - np.round(m)) > 0.12) or np.any(np.round(m) > 2):
            break  # uneven rows (a stray line among them): no spacing to go by
        cand: list[float] = []
        for i, g in enumerate(d):  # a gap of two pitches: a row missing midway
            if g >= 1.7 * pitch or (len(out) == 2 and g >= 30 * px_per_mm):
                r = row_at(out[i] + g / 2, 0.12 * g / 2)
                if r is not None and min(abs(r - out[i]), abs(out[i + 1] - r)) >= 0.35 * g:
                    cand.append(r)
        for pred in (out[0] - pitch, out[-1] + pitch):
            r = row_at(pred, 0.12 * pitch)
            if r is not None and min(abs(r - o) for o in out) >= 0.8 * pitch:
                cand.append(r)
        if not cand or len(out) >= 13:
            break
        out = sorted(out + cand[:1])
    return out


def _find_rows(prob: np.ndarray, px_per_mm: float, ink_thr: float, join_mm: float) -> Rows:
    h, w = prob.shape
    ink8 = (prob >= ink_thr).astype(np.uint8)
    # Close one-pixel holes (a trace crossing a dark grid line loses a pixel to grid suppression).
    ink8 = cv2.morphologyEx(ink8, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    # Keep only wide connected pieces of ink: trace lines run for centimetres, characters of text
    # and dots of a dotted grid do not. Pieces are joined across short breaks (faint, blurred or
    # faded traces) only for this decision.
    kx = max(3, int(round(join_mm * px_per_mm)) | 1)
    joined = cv2.morphologyEx(ink8, cv2.MORPH_CLOSE, np.ones((3, kx), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    wide = np.zeros(n, bool)
    wide[1:] = (stats[1:, cv2.CC_STAT_WIDTH] >= 12 * px_per_mm) & (
        stats[1:, cv2.CC_STAT_HEIGHT] >= 1 * px_per_mm
    )
    ink = (wide[lab] & (ink8 > 0)).astype(np.float32)  # real ink only, not the bridges
    proj = ink.sum(axis=1)
    sm = cv2.GaussianBlur(proj.reshape(-1, 1), (1, 0), sigmaX=0, sigmaY=1.2 * px_per_mm).ravel()
    min_dist = int(7 * px_per_mm)
    # Local maxima, strongest first, non-maximum suppression at min_dist.
    cand = np.flatnonzero((sm[1:-1] >= sm[:-2]) & (sm[1:-1] > sm[2:])) + 1
    cand = cand[sm[cand] > 0.08 * sm.max()] if len(cand) else cand
    order = cand[np.argsort(-sm[cand])]
    chosen: list[int] = []
    for c in order:
        if all(abs(c - o) >= min_dist for o in chosen):
            chosen.append(int(c))
    band = int(6 * px_per_mm)
    gap = int(2 * px_per_mm)
    keep = []
    weak = []
    # Column ink presence within a band around each candidate; rows need a long continuous run.
    bridged = (wide[lab] & (joined > 0)).astype(np.float32)
    cs = np.cumsum(np.vstack([np.zeros((1, w), np.float32), bridged]), axis=0)
    for c in sorted(chosen):
        a, b = max(0, c - band), min(h, c + band + 1)
        has = (cs[b] - cs[a]) > 0
        run = _longest_run(has, gap)
        if run >= 0.3 * w:
            keep.append((c, run))
        else:
            weak.append(c)
    if not keep:
        return Rows([], 0.0, 0.0)
    longest = max(r for _, r in keep)
    centres = [float(c) for c, r in keep if r >= 0.45 * longest]
    if len(centres) >= 2 and weak:
        centres = _add_rows_at_pitch(
            centres, [c for c in weak if _trace_like(prob, c, centres, px_per_mm)]
        )
    # Refine each centre to the most common ink row nearby (the isoelectric line).
    pitch = float(np.median(np.diff(centres))) if len(centres) > 1 else 0.4 * h
    refined = []
    for c in centres:
        a, b = int(max(0, c - 0.3 * pitch)), int(min(h, c + 0.3 * pitch))
        r = float(a + np.argmax(proj[a:b])) if b > a else c
        if not refined or r - refined[-1] >= 2 * px_per_mm:  # two peaks of one row: keep one
            refined.append(r)
    # Upside-down cue: ECG deflections (R, P, T waves) point up in most leads.
    above = below = 0.0
    half = int(0.45 * pitch)
    skip = max(2, int(0.8 * px_per_mm))
    for c in refined:
        ci = int(c)
        above += float(ink[max(0, ci - half) : max(0, ci - skip)].sum())
        below += float(ink[min(h, ci + skip) : min(h, ci + half)].sum())
    score = (below - above) / max(above + below, 1.0)
    return Rows(refined, pitch, score)


def layout_for_rows(n_rows: int) -> list[str]:
    """Candidate layouts for a row count, most likely first."""
    return {
        3: ["3x4"],
        4: ["3x4+1"],
        6: ["3x4+3", "6x2"],
        12: ["12x1"],
        5: ["3x4+1", "6x2"],
        2: ["3x4"],
        7: ["6x2", "3x4+3"],
        11: ["12x1"],
        13: ["12x1"],
    }.get(n_rows, [])


@dataclass
class Pulse:
    x_rise: int
    x_fall: int
    foot_y: float
    top_y: float

    @property
    def height_px(self) -> float:
        return self.foot_y - self.top_y


def find_pulse(y: np.ndarray, x_start: int, px_per_mm: float) -> Pulse | None:
    """A calibration pulse at the start of a row: a rise from a flat foot to a flat plateau 2-12 mm
    long, then back down. `y` is the row's per-column trace (NaN gaps)."""
    n = len(y)
    x1 = min(n, x_start + int(25 * px_per_mm))
    seg = y[x_start:x1]
    if np.isfinite(seg).sum() < 4 * px_per_mm:
        return None
    seg = np.where(np.isfinite(seg), seg, np.nanmedian(seg))
    foot = float(np.percentile(seg, 90))
    top = float(np.percentile(seg, 5))
    hgt = foot - top
    if hgt < 2 * px_per_mm:  # less than 2 mm: no pulse (2.5 mm/mV at the least)
        return None
    tol = max(1.0, 0.08 * hgt)
    on_top = np.abs(seg - top) <= tol
    # The plateau: longest run of columns at the top level.
    idx = np.flatnonzero(on_top)
    if len(idx) == 0:
        return None
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    k = int(np.argmax(ends - starts))
    a, b = int(starts[k]), int(ends[k])
    width_mm = (b - a + 1) / px_per_mm
    if not 1.5 <= width_mm <= 14:
        return None
    # Foot on both sides of the plateau at the same level.
    left = seg[max(0, a - int(2 * px_per_mm)) : a]
    right = seg[b + 1 : b + 1 + int(2 * px_per_mm)]
    # The foot after the fall must be there; before the rise it may be cut short by the page.
    if len(right) == 0 or abs(np.max(right) - foot) > 2 * tol:
        return None
    if len(left) >= px_per_mm and abs(np.max(left) - foot) > 2 * tol:
        return None
    # Re-estimate levels from the flat parts.
    top_y = float(np.median(seg[a : b + 1]))
    pre = seg[:a]
    pre = pre[np.abs(pre - foot) <= 2 * tol]
    post = seg[b + 1 : b + 1 + int(3 * px_per_mm)]
    post = post[np.abs(post - foot) <= 2 * tol]
    feet = np.concatenate([pre, post])
    foot_y = float(np.median(feet)) if len(feet) else foot
    return Pulse(x_start + a, x_start + b, foot_y, top_y)


def snap(value: float, options: tuple[float, ...], rel_tol: float) -> float | None:
    """Nearest standard value if within rel_tol, else None."""
    best = min(options, key=lambda o: abs(value - o) / o)
    return best if abs(value - best) / best <= rel_tol else None


def name_rhythm_leads(layout: Layout, row_signals: list[np.ndarray], fs: float) -> list[str]:
    """For each rhythm strip, the lead it repeats: the segment lead whose printed window matches
    the strip best (correlation > 0.9), else the layout's default."""
    names = list(layout.rhythm)
    n_seg = len(layout.rows)
    if not names or len(row_signals) < n_seg + len(names):
        return names
    n_cols = layout.n_cols
    for k in range(len(names)):
        strip = row_signals[n_seg + k]
        best, best_c = None, 0.9
        for r in range(n_seg):
            seg_sig = row_signals[r]
            n = min(len(seg_sig), len(strip))
            for c in range(n_cols):
                i0, i1 = int(c * n / n_cols), int((c + 1) * n / n_cols)
                a, b = seg_sig[i0:i1], strip[i0:i1]
                if not _same_signal(a, b):
                    continue
                cc = _corr(a, b)
                if cc > best_c:
                    best, best_c = layout.rows[r][c], cc
        if best is not None:
            names[k] = best
    return names


def rhythm_matches(layout: Layout, row_signals: list[np.ndarray]) -> int:
    """How many rhythm strips of `layout` repeat (correlation > 0.9) some segment of its rows."""
    n_seg = len(layout.rows)
    count = 0
    for k in range(len(layout.rhythm)):
        if n_seg + k >= len(row_signals):
            break
        strip = row_signals[n_seg + k]
        done = False
        for r in range(n_seg):
            n = min(len(row_signals[r]), len(strip))
            for c in range(layout.n_cols):
                i0, i1 = int(c * n / layout.n_cols), int((c + 1) * n / layout.n_cols)
                if _same_signal(row_signals[r][i0:i1], strip[i0:i1]):
                    count += 1
                    done = True
                    break
            if done:
                break
    return count


def _same_signal(a: np.ndarray, b: np.ndarray) -> bool:
    """The same lead printed twice: near-perfect correlation and equal amplitude (neighbouring
    leads such as V4/V5 correlate well but differ in size)."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < max(10, 0.5 * len(a)):
        return False
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    sx, sy = float(np.sqrt((x * x).mean())), float(np.sqrt((y * y).mean()))
    if sx <= 0 or sy <= 0 or not 0.85 < sx / sy < 1.18:
        return False
    return _corr(a, b) > 0.97


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < max(10, 0.5 * len(a)):
        return 0.0
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else 0.0


def top_row_missing(row_signals: list[np.ndarray], fs: float) -> bool:
    """Three rows that are a 3x4+1 page without its top row (washed out by glare, or outside the
    photo), not a 3x4 page: the third row's first 2.5 s repeat the first row's (lead II printed
    again as the rhythm strip), and the leads side by side break the laws every 3x4 page obeys
    (I + III = II in the first column, aVR + aVL + aVF = 0 in the second; relative residual over
    TOP_ROW_MISFIT). Read as 3x4, every lead of such a page would be named from the row above
    its own."""
    from ..interpret.consistency import relation_residuals

    if len(row_signals) != 3:
        return False
    n = min(len(s) for s in row_signals)
    q = n // 4
    if q < 10:
        return False
    r0, r1, r2 = (np.asarray(s[:n], np.float64) for s in row_signals)
    if not _same_signal(r0[:q], r2[:q]):
        return False
    as_3x4 = np.full((2 * q, 6), np.nan)  # the first two columns, named as a 3x4 page names them
    as_3x4[:q, :3] = np.stack([r0[:q], r1[:q], r2[:q]], axis=1)
    as_3x4[q:, 3:] = np.stack([r0[q : 2 * q], r1[q : 2 * q], r2[q : 2 * q]], axis=1)
    residuals = relation_residuals(as_3x4, fs, ("I", "II", "III", "aVR", "aVL", "aVF"))
    return bool(residuals) and float(np.mean(list(residuals.values()))) > TOP_ROW_MISFIT


def choose_layout(n_rows: int, row_signals: list[np.ndarray]) -> tuple[str, float]:
    """Pick the layout for the rows found: by count, and for six rows by whether rows 4-6 repeat
    segments of rows 1-3 (rhythm strips of 3x4+3) or not (6x2). Returns (name, confidence)."""
    cands = layout_for_rows(n_rows)
    if not cands:
        return "", 0.0
    if n_rows == 6 and len(row_signals) == 6:
        m = rhythm_matches(LAYOUTS["3x4+3"], row_signals)
        return ("3x4+3", 0.9) if m >= 1 else ("6x2", 0.8)
    conf = 0.9 if n_rows in (3, 4, 12) else 0.5
    return cands[0], conf


def qrs_timing(y: np.ndarray, px_per_s: float) -> tuple[float, float, int]:
    """(median QRS width s, median RR s, beats) of one row trace read at `px_per_s`, from the
    clusters of steep slope (QRS complexes are the steepest part of every beat)."""
    v = y[np.isfinite(y)]
    if len(v) < px_per_s:
        return float("nan"), float("nan"), 0
    s = np.abs(np.diff(v))
    hi = float(np.percentile(s, 99.5))
    if hi <= 0:
        return float("nan"), float("nan"), 0
    steep = s > 0.25 * hi
    # Merge steep columns closer than 40 ms into one complex.
    gap = max(1, int(0.04 * px_per_s))
    idx = np.flatnonzero(steep)
    if len(idx) < 2:
        return float("nan"), float("nan"), 0
    br = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate([[idx[0]], idx[br + 1]])
    ends = np.concatenate([idx[br], [idx[-1]]])
    widths = (ends - starts + 1) / px_per_s
    # A QRS complex spans millimetres; noise and jitter (a soft or sharpened photo) only pixels.
    px_per_mm = px_per_s / 25.0
    height = np.array([np.ptp(v[a : b + 2]) for a, b in zip(starts, ends)])
    keep = (widths > 0.01) & (height >= 2.0 * px_per_mm)
    if keep.sum() < 2:
        return float("nan"), float("nan"), int(keep.sum())
    centres = 0.5 * (starts + ends)[keep] / px_per_s
    return float(np.median(widths[keep])), float(np.median(np.diff(centres))), int(keep.sum())


def guess_speed(
    traces_y: list[np.ndarray], px_per_mm: float, pulse_widths_mm: list[float]
) -> tuple[float, str]:
    """25 or 50 mm/s. Read at 25 mm/s, a 50 mm/s page shows QRS complexes twice as wide and the
    heart rate halved; a 0.2 s calibration pulse 10 mm wide says the same. Defaults to 25."""
    if pulse_widths_mm and np.median(pulse_widths_mm) >= 8.5:
        return 50.0, "calibration pulse width"
    stats = [qrs_timing(y, 25.0 * px_per_mm) for y in traces_y]
    stats = [s for s in stats if s[2] >= 3 and np.isfinite(s[0])]
    if not stats:
        return 25.0, "default"
    qrs = float(np.mean([s[0] for s in stats]))
    rr = float(np.median([s[1] for s in stats]))
    # Measured on PTB-XL pages: at 25 mm/s RR <= 1.2 s and QRS clusters <= 60 ms; the same pages at
    # 50 mm/s read as RR 1.1-2.2 s (tachycardia: 1.1-1.3) and 60-110 ms. A true bradycardia keeps
    # narrow complexes; a slow wide-QRS rhythm can still fool it (use --speed).
    if (rr > 1.5 and qrs > 0.045) or (rr > 1.3 and qrs > 0.065) or (rr > 1.1 and qrs > 0.075):
        return 50.0, f"QRS width {qrs * 1000:.0f} ms and RR {rr:.2f} s at 25 mm/s"
    return 25.0, "default"
