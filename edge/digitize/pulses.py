"""Calibration pulses and paper speed: the 1 mV pulse at a row's start (its height gives the gain,
its foot the 0 mV level, its width 0.2 s), standard gains and speeds, and the speed a page's QRS
widths and RR intervals suggest when nothing printed says it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numeric import percentile

STANDARD_GAINS = (5.0, 10.0, 20.0)  # mm/mV (2.5 and 40 exist but are rare: use --gain)
STANDARD_SPEEDS = (12.5, 25.0, 50.0, 100.0)  # mm/s
STANDARD_PULSE_TOL = (
    0.15  # a lone pulse is "standard" within this fraction of 1 mV at a standard gain
)
STANDARD_PULSE_WIDTH_MM = (3.5, 12.0)  # 0.2 s at 25 or 50 mm/s, with room for blur and scale


@dataclass
class Pulse:
    x_rise: int
    x_fall: int
    foot_y: float
    top_y: float
    x_trace: int | None = None  # where the trace starts, when a break parts it from the pulse

    @property
    def height_px(self) -> float:
        return self.foot_y - self.top_y

    @property
    def trace_from(self) -> int:
        """The row's first column of signal: right after the fall, or after a drawn foot's break."""
        return self.x_trace if self.x_trace is not None else self.x_fall + 1


def find_pulse(y: np.ndarray, x_start: int, px_per_mm: float) -> Pulse | None:
    """A calibration pulse at the start of a row: a rise from a flat foot to a flat plateau 2-12 mm
    long, then back down. `y` is the row's per-column trace (NaN gaps)."""
    n = len(y)
    x1 = min(n, x_start + int(25 * px_per_mm))
    seg = y[x_start:x1]
    if np.isfinite(seg).sum() < 4 * px_per_mm:
        return None
    seg = np.where(np.isfinite(seg), seg, np.nanmedian(seg))
    foot = float(percentile(seg, 90))
    top = float(percentile(seg, 5))
    hgt = foot - top
    if hgt < 2 * px_per_mm:  # less than 2 mm: no pulse (2.5 mm/mV at the least)
        return None
    tol = max(1.0, 0.08 * hgt)
    on_top = np.abs(seg - top) <= tol
    # The plateau: longest run of columns at the top level.
    runs = _runs(on_top, 0)
    if not runs:
        return None
    a, b = max(runs, key=lambda r: r[1] - r[0])
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


def qrs_timing(y: np.ndarray, px_per_s: float) -> tuple[float, float, int]:
    """(median QRS width s, median RR s, beats) of one row trace read at `px_per_s`, from the
    clusters of steep slope (QRS complexes are the steepest part of every beat)."""
    v = y[np.isfinite(y)]
    if len(v) < px_per_s:
        return float("nan"), float("nan"), 0
    s = np.abs(np.diff(v))
    hi = float(percentile(s, 99.5))
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


def is_standard_pulse(p: Pulse, px_per_mm: float) -> bool:
    """A calibration pulse of standard shape: 1 mV at 5, 10 or 20 mm/mV, 0.2 s at 25 or 50 mm/s."""
    lo, hi = STANDARD_PULSE_WIDTH_MM
    return (
        snap(p.height_px / px_per_mm, STANDARD_GAINS, STANDARD_PULSE_TOL) is not None
        and lo <= (p.x_fall - p.x_rise + 1) / px_per_mm <= hi
    )


PULSE_SEARCH_BEFORE_MM = 15.0  # a pulse ends at most this far before its row's inked start
PULSE_SEARCH_AFTER_MM = 12.0  # ...or (joined to the trace) this far after it
PULSE_INK = 0.4  # a pulse's stroke pixel has at least this trace probability
PULSE_STROKE_FILL = 0.7  # this share of a pulse's top and of each side must be inked
PULSE_FOOT_TOL_MM = 2.0  # the pulse's foot lies this close to the row trace's own level
PULSE_START_MM = 3.0  # the row's level: its trace's median over this much from its start...
PULSE_LEVEL_MM = 25.0  # ...or over this much (a path that followed the pulse's top)
PULSE_SIDE_PX = 2  # a side stroke may lean or blur this many px either side of its column


def _runs(mask: np.ndarray, bridge: int) -> list[tuple[int, int]]:
    """(first, last) index of each run of True, runs closer than `bridge` joined."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    br = np.flatnonzero(np.diff(idx) > bridge + 1)
    starts = np.concatenate([[idx[0]], idx[br + 1]])
    ends = np.concatenate([idx[br], [idx[-1]]])
    return list(zip(starts.tolist(), ends.tolist()))


def _side_end(ink: np.ndarray, x: int, top: int) -> int | None:
    """Lowest row a vertical side stroke reaches, followed down from its top at column `x`
    (within PULSE_SIDE_PX), one row at a time, moving at most a pixel sideways per row (a page
    not quite flat leans it) and across breaks of up to PULSE_SIDE_PX rows; None if no stroke."""
    h, w = ink.shape
    near = np.flatnonzero(ink[top, max(0, x - PULSE_SIDE_PX) : x + PULSE_SIDE_PX + 1])
    if len(near) == 0:
        return None
    xc = max(0, x - PULSE_SIDE_PX) + int(near[len(near) // 2])
    end, y = top, top + 1
    while y < h and y - end <= PULSE_SIDE_PX + 1:
        hit = np.flatnonzero(ink[y, max(0, xc - 1) : xc + 2])
        if len(hit):
            xc = max(0, xc - 1) + int(hit[len(hit) // 2])
            end = y
        y += 1
    return end


def find_pulse_in_map(
    prob: np.ndarray, y: np.ndarray, x_start: int, px_per_mm: float
) -> Pulse | None:
    """A calibration pulse drawn apart from the row's followed path (the path keeps to the
    baseline and skips a pulse whose sides it cannot climb, or a gap parts it from the trace):
    looked for in the trace map itself, as a flat top stroke 3.5-12 mm wide, 1 mV at a standard
    gain above the row's level, with an inked side stroke down to that level at each end. The
    level is the trace's just after `x_start`, else its median over PULSE_LEVEL_MM (a path that
    followed the pulse's top starts on it)."""
    k = px_per_mm
    for n_mm in (PULSE_START_MM, PULSE_LEVEL_MM):
        near = y[x_start : x_start + int(n_mm * k)]
        near = near[np.isfinite(near)]
        if len(near) < 0.5 * n_mm * k:
            continue
        p = _pulse_at_level(prob, y, x_start, float(np.median(near)), k)
        if p is not None:
            return p
    return None


def _pulse_at_level(
    prob: np.ndarray, y: np.ndarray, x_start: int, level: float, k: float
) -> Pulse | None:
    """find_pulse_in_map for a pulse whose foot is at `level` (within PULSE_FOOT_TOL_MM)."""
    h, w = prob.shape
    x0 = max(0, x_start - int(PULSE_SEARCH_BEFORE_MM * k))
    x1 = min(w, x_start + int(PULSE_SEARCH_AFTER_MM * k))
    lo_mm, hi_mm = STANDARD_PULSE_WIDTH_MM
    y_hi = int(level - (1 - STANDARD_PULSE_TOL) * min(STANDARD_GAINS) * k)
    y_lo = max(0, int(level - (1 + STANDARD_PULSE_TOL) * max(STANDARD_GAINS) * k))
    if y_hi <= y_lo or x1 - x0 < lo_mm * k:
        return None
    ink = prob[y_lo : y_hi + 1, x0:x1] >= PULSE_INK
    # A top stroke on a page not quite flat slants by a pixel or two over its width.
    lean = ink.copy()
    lean[1:] |= ink[:-1]
    lean[:-1] |= ink[1:]
    best: tuple[float, Pulse] | None = None
    side_ink = prob[: min(h, int(level + PULSE_FOOT_TOL_MM * k) + 1)] >= PULSE_INK
    for r in range(ink.shape[0]):
        # A top run may go on along a grid line it lies on: the sides, not its ends, bound it.
        for a, b in _runs(lean[r], PULSE_SIDE_PX):
            if b - a + 1 < lo_mm * k:
                continue
            top = y_lo + r
            sides = _pulse_sides(side_ink, x0 + a, x0 + b, top, level, k)
            if sides is None:
                continue
            xr, xf, foot = sides
            if not lo_mm * k <= xf - xr + 1 <= hi_mm * k:
                continue
            if xr < x0 or xf - x0 >= lean.shape[1]:
                continue  # a side outside the searched stretch: the top between is not measured
            fill = float(lean[r, xr - x0 : xf - x0 + 1].mean())
            if fill < PULSE_STROKE_FILL:
                continue
            half = _half_thickness(ink[r:, xr - x0 : xf - x0 + 1])
            p = Pulse(xr, xf, foot - half, top + half)
            if snap(p.height_px / k, STANDARD_GAINS, STANDARD_PULSE_TOL) is None:
                continue
            score = fill + (xf - xr) / w  # the fullest top; ties to the longer
            if best is None or score > best[0]:
                best = (score, p)
    return best[1] if best else None


def _pulse_sides(
    ink: np.ndarray, a: int, b: int, top: int, level: float, k: float
) -> tuple[int, int, float] | None:
    """(rise column, fall column, foot row) of a pulse whose top stroke runs over columns a..b at
    row `top`: the outermost columns of the run from which a side stroke goes down to the row's
    `level` (within PULSE_FOOT_TOL_MM). None without both sides."""
    tol = PULSE_FOOT_TOL_MM * k
    lo = int(STANDARD_PULSE_WIDTH_MM[0] * k)
    mid = min(ink.shape[0] - 1, int(0.5 * (top + level)))
    w = ink.shape[1]

    def side(x: int) -> tuple[int, int] | None:
        """(column, lowest row) of a side stroke near column x: its column half-way down."""
        x_lo = max(0, x - 2 * PULSE_SIDE_PX)
        hit = np.flatnonzero(ink[mid, x_lo : x + 2 * PULSE_SIDE_PX + 1])
        if len(hit) == 0:
            return None  # nothing half-way down: no side here (a quick test)
        end = _side_end(ink, x, top)
        if end is None or abs(end - level) > tol:
            return None
        return x_lo + int(hit[np.argmin(np.abs(x_lo + hit - x))]), end

    rise = next((sd for x in range(max(0, a - PULSE_SIDE_PX), b - lo + 1) if (sd := side(x))), None)
    if rise is None:
        return None
    fall = next(
        (sd for x in range(min(w - 1, b + PULSE_SIDE_PX), rise[0] + lo - 1, -1) if (sd := side(x))),
        None,
    )
    if fall is None:
        return None
    return rise[0], fall[0], 0.5 * (rise[1] + fall[1])


def _half_thickness(below_top: np.ndarray) -> float:
    """Half a stroke's thickness (px, centre to edge) from the inked run below its upper edge in
    each column of the top stroke (rows x columns, first row the upper edge)."""
    gaps = np.argmin(below_top, axis=0)  # first paper row below the edge, per column
    full = below_top.all(axis=0)
    runs = np.where(full, below_top.shape[0], gaps)
    return 0.5 * (float(np.median(runs)) - 1.0)


FOOT_MAX_MM = 4.0  # a printer's foot after the pulse, before its trace, is at most this long
FOOT_BREAK_PX = 2  # ...and ends in at least this many columns without any ink near the row


def trace_after_break(prob: np.ndarray, p: Pulse, px_per_mm: float) -> int | None:
    """The first column of the trace where a pulse ends in a short foot set apart from the trace
    by a blank break (some printers draw it so; others run the trace on from the pulse's fall).
    Blank: nothing inked within a pulse height of the foot, which a trace never is."""
    k = px_per_mm
    hgt = max(p.height_px, 2 * k)
    y0, y1 = max(0, int(p.top_y - hgt)), min(prob.shape[0], int(p.foot_y + hgt) + 1)
    x0 = p.x_fall + PULSE_SIDE_PX + 1
    x1 = min(prob.shape[1], x0 + int(FOOT_MAX_MM * k))
    if x1 - x0 < 2 * FOOT_BREAK_PX:
        return None
    inked = (prob[y0:y1, x0:x1] >= PULSE_INK).any(axis=0)
    runs = _runs(inked, 0)
    if len(runs) < 2 or runs[0][0] > 0:
        return None
    if runs[1][0] - runs[0][1] - 1 < FOOT_BREAK_PX:
        return None
    return x0 + runs[1][0]
