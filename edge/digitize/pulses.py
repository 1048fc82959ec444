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
    foot = float(percentile(seg, 90))
    top = float(percentile(seg, 5))
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
