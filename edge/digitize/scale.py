"""Scale: the rectified page's millimetres against the printed millimetres. The grid's period
(edge.digitize.grid) sets the scale; where the grid is too faint to trust and no row ruler holds,
the standard printed strip (250 mm: 10 s at 25 mm/s) and the 1 mV calibration pulse are two
independent rulers that may correct it."""

from __future__ import annotations

import numpy as np

from .grid import GridCalibration
from .pulses import STANDARD_GAINS, Pulse
from .span import STRIP_MM, STRIP_TOL

WEAK_GRID = 0.5  # a grid measured with less confidence than this does not fix the scale alone
STRIP_RANGE_MM = (215.0, 285.0)  # a span this close to 250 mm is taken for a standard strip
OCTAVE_TOL = 0.1  # a span within this fraction of half or twice 250 mm is an octave off
OCTAVE_PULSE_WIDTH_MM = (3.8, 12.0)  # ...and its pulses then read a standard 5 or 10 mm wide


def page_scale(
    grid: GridCalibration,
    span_mm: float,
    rulers_used: bool,
    found: list[Pulse],
    px_per_mm: float,
    warnings: list[str],
) -> float:
    """The px/mm the page is read at: `px_per_mm` (the rectified page's) unless a weak grid is
    corrected by the strip's span or by span and pulse together."""
    k = px_per_mm
    weak = grid.confidence < WEAK_GRID
    off_standard = abs(span_mm / STRIP_MM - 1.0) > STRIP_TOL
    lo, hi = STRIP_RANGE_MM
    if not rulers_used and (weak or off_standard) and lo < span_mm < hi:
        why = "grid too faint to measure" if weak else "grid scale disagrees with the trace length"
        warnings.append(f"{why}: scale set from the {span_mm:.0f} mm trace span (250 mm assumed)")
        return k * span_mm / STRIP_MM
    if weak and _octave_off(span_mm, [(p.x_fall - p.x_rise + 1) / k for p in found]):
        # A faint grid whose 1 mm lines vanished can be read at twice or half its period; the
        # trace span and the 0.2 s calibration pulse then both come out an octave off.
        warnings.append(
            f"grid too faint to measure: its period was read an octave off; scale set from the "
            f"{span_mm:.0f} mm trace span (250 mm assumed)"
        )
        return k * span_mm / STRIP_MM
    if weak and not rulers_used and found:
        f = scale_from_pulse_and_span(span_mm, [p.height_px / k for p in found])
        if f is not None:
            warnings.append(
                f"grid too faint to measure: scale set from the calibration pulse and the "
                f"{span_mm:.0f} mm trace span, which agree"
            )
            return k * f
    return k


def scale_from_pulse_and_span(span_mm: float, pulse_heights_mm: list[float]) -> float | None:
    """Scale correction (rectified mm per true mm) when a faint grid was read at a wrong period
    that is not an octave off: the trace span (250 mm for a standard 10 s strip) and the 1 mV
    calibration pulse (5, 10 or 20 mm) are two independent rulers. Only where both say the same
    factor, within 4%, is it trusted, and then the pulse's: its height is read between two flat
    levels, while where a trace starts and ends depends on the printer; None otherwise."""
    f_span = span_mm / STRIP_MM
    if not (0.6 <= f_span <= 1.6) or abs(f_span - 1.0) < STRIP_TOL or not pulse_heights_mm:
        return None
    h = float(np.median(pulse_heights_mm))
    for g in STANDARD_GAINS:
        f_pulse = h / g
        if abs(f_pulse / f_span - 1.0) <= STRIP_TOL:
            return f_pulse
    return None


def _octave_off(span_mm: float, pulse_widths_mm: list[float]) -> bool:
    """Whether the trace span reads as about half or twice the standard 250 mm, with calibration
    pulses (when found) whose width also becomes a standard 5 or 10 mm at that scale."""
    for f in (2.0, 0.5):
        if abs(span_mm * f / STRIP_MM - 1.0) > OCTAVE_TOL:
            continue
        if not pulse_widths_mm:
            return True
        w = float(np.median(pulse_widths_mm)) * f
        return OCTAVE_PULSE_WIDTH_MM[0] <= w <= OCTAVE_PULSE_WIDTH_MM[1]
    return False
