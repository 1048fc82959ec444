"""Calibration: the gain (mm/mV) and paper speed (mm/s) a page is read at, each with where it came
from. Calibration pulses are 1 mV high; the printed text (`25 mm/s  10 mm/mV`,
edge.digitize.textcues) is the device's own statement of its speed, and of its gain where no
pulse is printed; the user's override beats both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pulses import STANDARD_GAINS, Pulse, guess_speed, snap
from .textcues import PrintedScale

DEFAULT_GAIN = 10.0  # mm/mV: the standard when nothing on the page says otherwise
DEFAULT_SPEED = 25.0  # mm/s: likewise
GAIN_SNAP_TOL = 0.25  # a pulse height within this fraction of a standard gain is read as it
GAIN_WARN_TOL = 0.08  # ...and one further than this from it is reported


@dataclass
class Calibration:
    px_per_mm: float  # the scale the page is read at (edge.digitize.scale)
    gain_mm_mv: float
    gain_source: str  # "calibration pulse" | "printed text" | "default" | "override"
    speed_mm_s: float
    speed_source: str


def choose_gain(
    found: list[Pulse], printed: PrintedScale, px_per_mm: float, warnings: list[str]
) -> tuple[float, str]:
    """Gain from the calibration pulses, else the printed text, else the default."""
    if found:
        g_meas = float(np.median([p.height_px for p in found])) / px_per_mm
        g = snap(g_meas, STANDARD_GAINS, GAIN_SNAP_TOL)
        if g is None:
            if printed.gain_mm_mv is not None:
                gain, src = printed.gain_mm_mv, "printed text"
            else:
                gain, src = DEFAULT_GAIN, "default"
            warnings.append(
                f"calibration pulse of {g_meas:.1f} mm matches no standard gain; "
                f"{'read ' if src != 'default' else 'assumed '}{gain:g} mm/mV"
            )
            return gain, src
        if abs(g - g_meas) / g > GAIN_WARN_TOL:
            warnings.append(f"calibration pulse measured {g_meas:.1f} mm; read as {g:g} mm/mV")
        return g, "calibration pulse"
    if printed.gain_mm_mv is not None:
        warnings.append(
            f"no calibration pulse found: gain {printed.gain_mm_mv:g} mm/mV read from the printed "
            "text (override with --gain)"
        )
        return printed.gain_mm_mv, "printed text"
    warnings.append("no calibration pulse found: assumed 10 mm/mV (override with --gain)")
    return DEFAULT_GAIN, "default"


def choose_speed(
    traces_y: list[np.ndarray],
    found: list[Pulse],
    printed: PrintedScale,
    px_per_mm: float,
    warnings: list[str],
) -> tuple[float, str]:
    """Speed from the printed text (the device prints the speed it ran at: nothing drawn on the
    page says it better), else from the pulse width and the QRS widths and RR intervals."""
    if printed.speed_mm_s is not None:
        speed, src = printed.speed_mm_s, "printed text"
    else:
        widths = [(p.x_fall - p.x_rise + 1) / px_per_mm for p in found]
        speed, src = guess_speed(traces_y, px_per_mm, widths)
    if speed != DEFAULT_SPEED:
        warnings.append(
            f"paper speed read as {speed:g} mm/s ({src}); override with --speed if wrong"
        )
    return speed, src


def calibrate(
    px_per_mm: float,
    *,
    gain: float | None,
    speed: float | None,
    found: list[Pulse],
    traces_y: list[np.ndarray],
    printed: PrintedScale,
    warnings: list[str],
) -> Calibration:
    """Gain and speed with their sources; `gain` and `speed` given by the user win."""
    if gain is None:
        gain_used, gain_src = choose_gain(found, printed, px_per_mm, warnings)
    else:
        gain_used, gain_src = float(gain), "override"
    if speed is not None:
        speed_used, speed_src = float(speed), "override"
    else:
        speed_used, speed_src = choose_speed(traces_y, found, printed, px_per_mm, warnings)
    return Calibration(px_per_mm, float(gain_used), gain_src, speed_used, speed_src)
