"""Rows: where the printed trace rows run on the rectified page, found in the trace-probability
map (runs of ink across the page, completed where the rows' even spacing predicts a washed-out
one), and which of the found rows are the page's (stray lines, text lines and a layout the user
gave are left out)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .extract import RowTrace
from .pulses import Pulse

if TYPE_CHECKING:
    from .paths import RowPaths

ROW_SPACING_TOL = 0.12  # rows printed together are evenly spaced within this fraction of the pitch
MIN_ROW_GAP_MM = 15.0  # printed rows are at least this far apart
MIN_ROW_TRACE_MM = 80.0  # every row of a printed page carries at least this much trace


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


def add_rows_at_pitch(centres: list[float], weak: list[float]) -> list[float]:
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
            gap = min(abs(c - o) for o in out)
            if 0.9 * pitch <= gap <= 1.1 * pitch:
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
            more = add_rows_at_pitch(
                rows.centres, [c for c in extra if _trace_like(prob, c, rows.centres, px_per_mm)]
            )
            if len(more) > len(rows.centres):
                rows = Rows(more, float(np.median(np.diff(more))), rows.upside_down_score)
    more = complete_rows(prob, rows.centres, px_per_mm)
    if len(more) > len(rows.centres):
        rows = Rows(more, float(np.median(np.diff(more))), rows.upside_down_score)
    return rows


COMPLETE_INK = 0.15  # faint ink counts when a row is looked for where the spacing predicts it
COMPLETE_BAND_MM = 6.0  # half-height of the band a predicted row is looked for in
PREDICT_TOL = 0.12  # a predicted row is looked for within this fraction of the pitch (or gap)
MIN_ROW_COVER = 0.3  # a predicted row covers at least this share of the rows' span...
REL_ROW_COVER = 0.4  # ...and this share of what the found rows cover (glare leaves 2 leads)
MIN_QUARTER_COVER = 0.3  # ...in at least two quarters of the span
ONE_CURVE_SHARE = 0.75  # ...crossing columns once as often as the found rows do


class _BandTest:
    """Whether a band of the page holds a row like the found ones (see complete_rows)."""

    def __init__(self, prob: np.ndarray, out: list[float], band: int, px_per_mm: float) -> None:
        self.h = prob.shape[0]
        self.low = prob >= COMPLETE_INK
        self.band = band
        self.k = px_per_mm
        self.cols = np.flatnonzero(_inked_columns(self.low, out, band))

    def start(self, out: list[float]) -> bool:
        """Measure the found rows; False where they cover too little to go by."""
        if len(self.cols) < 20 * self.k:
            return False
        self.x0, self.x1 = int(self.cols[0]), int(self.cols[-1]) + 1
        self.ref_cover = float(np.median([self.cover(c) for c in out]))
        self.thin = float(np.median([self.thickness(c) for c in out]))
        self.single = float(np.median([self.one_curve(c) for c in out]))
        return True

    def rows_of(self, y: float) -> tuple[int, int]:
        return int(max(0, y - self.band)), int(min(self.h, y + self.band + 1))

    def counts(self, y: float) -> np.ndarray:
        a, b = self.rows_of(y)
        return self.low[a:b].sum(axis=0)  # ink pixels per column (no page-sized cumulative sum)

    def cover(self, y: float) -> float:
        return float((self.counts(y)[self.x0 : self.x1] > 0).mean())

    def thickness(self, y: float) -> float:
        n = self.counts(y)[self.x0 : self.x1]
        return float(np.median(n[n > 0])) if (n > 0).any() else 0.0

    def one_curve(self, y: float) -> float:
        """Share of inked columns crossed by one run of ink: a trace is one curve, while lines
        of text (letters, stacked lines) cross a column several times."""
        has = self.inked_band(y)
        starts = (has[1:] & ~has[:-1]).sum(axis=0) + has[0]
        inked = has.any(axis=0)
        return float((starts[inked] == 1).mean()) if inked.any() else 0.0

    def inked_band(self, y: float) -> np.ndarray:
        a, b = self.rows_of(y)
        return self.low[a:b, self.x0 : self.x1]

    def row_at(self, pred: float, reach: float) -> float | None:
        """The row near `pred` (within `reach`), or None where the band holds no trace."""
        step = max(1, int(round(0.5 * self.k)))
        band, h = self.band, self.h
        ys = [
            y for y in range(int(pred - reach), int(pred + reach) + 1, step) if band <= y < h - band
        ]
        if not ys:
            return None
        covs = [self.cover(y) for y in ys]
        best = ys[int(np.argmax(covs))]
        has = self.inked_band(best)
        inked = has.any(axis=0)
        quarters = [float(q.mean()) for q in np.array_split(inked, 4)]
        if (
            max(covs) < max(MIN_ROW_COVER, REL_ROW_COVER * self.ref_cover)
            or sorted(quarters)[-2] < MIN_QUARTER_COVER
            or self.thickness(best) > 1.5 * self.thin + 1
            or self.one_curve(best) < ONE_CURVE_SHARE * self.single
        ):
            return None
        # Not one straight line: a trace has waves and spikes, columns inked over 2 mm or more.
        top = np.argmax(has, axis=0)
        bottom = has.shape[0] - 1 - np.argmax(has[::-1], axis=0)
        tall = ((bottom - top) >= 2 * self.k) & inked
        if tall.sum() < max(3, 0.005 * inked.sum()):
            return None
        # The row's level: the image row with the most ink near the best-covered band.
        prof = has.sum(axis=1)
        return float(self.rows_of(best)[0] + int(np.argmax(prof)))


def complete_rows(prob: np.ndarray, centres: list[float], px_per_mm: float) -> list[float]:
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
    out = sorted(float(c) for c in centres)
    band = int(round(min(COMPLETE_BAND_MM * px_per_mm, 0.3 * float(np.min(np.diff(out))))))
    if band < 2:
        return out
    test = _BandTest(prob, out, band, px_per_mm)
    if not test.start(out):
        return out
    for _ in range(3):
        cand = _predicted_rows(out, test, px_per_mm)
        if not cand or len(out) >= 13:
            break
        out = sorted(out + cand[:1])
    return out


def _predicted_rows(out: list[float], test: _BandTest, px_per_mm: float) -> list[float] | None:
    """Rows found where the even spacing of `out` predicts one; None for uneven rows."""
    d = np.diff(out)
    pitch = float(np.min(d))
    m = d / pitch
    if np.any(np.abs(m - np.round(m)) > PREDICT_TOL) or np.any(np.round(m) > 2):
        return None  # uneven rows (a stray line among them): no spacing to go by
    cand: list[float] = []
    for i, g in enumerate(d):  # a gap of two pitches: a row missing midway
        if g >= 1.7 * pitch or (len(out) == 2 and g >= 30 * px_per_mm):
            r = test.row_at(out[i] + g / 2, PREDICT_TOL * g / 2)
            if r is not None and min(abs(r - out[i]), abs(out[i + 1] - r)) >= 0.35 * g:
                cand.append(r)
    for pred in (out[0] - pitch, out[-1] + pitch):
        r = test.row_at(pred, PREDICT_TOL * pitch)
        if r is not None and min(abs(r - o) for o in out) >= 0.8 * pitch:
            cand.append(r)
    return cand


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
    ink = wide[lab] & (ink8 > 0)  # real ink only, not the bridges
    # Counts of ink pixels, as float32 like the sums of a float32 0/1 map (which are exact).
    proj = np.count_nonzero(ink, axis=1).astype(np.float32)
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
    bridged = wide[lab] & (joined > 0)
    del lab
    for c in sorted(chosen):
        a, b = max(0, c - band), min(h, c + band + 1)
        has = bridged[a:b].any(axis=0)
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
        centres = add_rows_at_pitch(
            centres, [c for c in weak if _trace_like(prob, c, centres, px_per_mm)]
        )
    # Refine each centre to the most common ink row nearby (the isoelectric line).
    pitch = float(np.median(np.diff(centres))) if len(centres) > 1 else 0.4 * h
    refined: list[float] = []
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
        above += float(np.count_nonzero(ink[max(0, ci - half) : max(0, ci - skip)]))
        below += float(np.count_nonzero(ink[min(h, ci + skip) : min(h, ci + half)]))
    score = (below - above) / max(above + below, 1.0)
    return Rows(refined, pitch, score)


@dataclass
class SelectedRows:
    """The rows the page's layout is read from, with their traces (see edge.digitize.paths)."""

    centres: list[float]
    pitch: float
    traces: list[RowTrace]
    extents: list[tuple[int, int] | None]
    pulses: list[Pulse | None]


def _regular(c: list[float]) -> bool:
    d = np.diff(c)
    return len(d) > 0 and bool(np.all(np.abs(d / np.median(d) - 1.0) < ROW_SPACING_TOL))


def drop_stray_row(centres: list[float]) -> list[float]:
    """Without one row, are the others evenly spaced (and with it not)? Then it is a stray."""
    if _regular(centres):
        return centres
    fits = [centres[:i] + centres[i + 1 :] for i in range(len(centres))]
    fits = [f for f in fits if _regular(f)]
    return fits[0] if len(fits) == 1 else centres


def regular_subset(centres: list[float], lengths: dict, k: float) -> list[float] | None:
    """The evenly spaced subset of 6, 4 or 3 rows (at least MIN_ROW_GAP_MM apart) whose traces
    are longest in total, or None."""
    for n in (6, 4, 3):
        best, best_len = None, 0.0
        for sub in combinations(sorted(centres), n):
            if min(np.diff(sub)) < MIN_ROW_GAP_MM * k or not _regular(list(sub)):
                continue
            total = sum(lengths.get(c, 0) for c in sub)
            if total > best_len:
                best, best_len = list(sub), total
        if best is not None and min(lengths.get(c, 0) for c in best) > MIN_ROW_TRACE_MM * k:
            return best
    return None


def select_rows(
    rows: Rows,
    paths: RowPaths,
    *,
    n_rows_wanted: int | None,
    layout_name: str | None,
    height_px: int,
    px_per_mm: float,
    warnings: list[str],
) -> SelectedRows:
    """The found rows that make the page's layout: with a layout given, its row count (the
    lowest rows kept); otherwise a stray line breaking the even spacing of 5 or 7 rows is left
    out, and where text or grid lines made too many rows, the evenly spaced subset holding the
    most trace is kept. `paths` is the rows' edge.digitize.paths.RowPaths."""
    k = px_per_mm
    centres = list(rows.centres)
    want = n_rows_wanted
    if want is not None and len(centres) != want:
        warnings.append(f"layout {layout_name} expects {want} rows but {len(centres)} were found")
        if len(centres) > want:
            centres = centres[-want:]
    elif want is None and len(centres) in (5, 7):
        centres = drop_stray_row(centres)
        if len(centres) != len(rows.centres):
            warnings.append("a stray line between the rows was ignored")
    if want is None and len(centres) > 7 and len(centres) not in (11, 12, 13):
        # Too many "rows" for a 3- to 6-row page and too few for 12x1: text lines or grid
        # lines joined the traces.
        lengths = {
            c: (e[1] - e[0]) if e is not None else 0 for c, e in zip(rows.centres, paths.extents)
        }
        sub = regular_subset(centres, lengths, k)
        if sub:
            warnings.append(f"{len(centres) - len(sub)} lines that are not trace rows were ignored")
            centres = sub
    pitch = rows.pitch if len(centres) > 1 else 0.3 * height_px
    keep = [rows.centres.index(c) for c in centres]
    return SelectedRows(
        centres,
        pitch,
        [paths.traces[i] for i in keep],
        [paths.extents[i] for i in keep],
        [paths.pulses[i] for i in keep],
    )
