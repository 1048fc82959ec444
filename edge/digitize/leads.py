"""Lead names: which standard layout a page's rows make (3x4, 3x4+1, 3x4+3, 6x2, 12x1), which
lead each rhythm strip repeats, and whether a 3x4+1 page lost its top row."""

from __future__ import annotations

import numpy as np

from ..layouts import LAYOUTS, Layout

TOP_ROW_MISFIT = 0.3  # limb-lead laws residual of a 3x4 reading that says the page is not one (0: they hold, ~1: unrelated)


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
