"""Time axis: which rectified column each output sample of each row is read at. Rows end
together and a printed span is a whole number of half seconds; every row starts right after its
own calibration pulse; where row rulers hold (edge.digitize.rulers), a row's samples follow its
own millimetres, so curl and lens distortion do not drift its timing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibration import Calibration
from .pulses import Pulse, is_standard_pulse
from .rulers import PageRulers
from .span import Span

OUTPUT_SECONDS = 10.0  # every record is this long (NaN where the page shows nothing)
SNAP_TOL_S = 0.25  # a span within this of a whole half second is that many half seconds
RULER_AGREE_PX = (
    1.0  # where the rulers put the strip's start within this of the page scale, keep it
)
PULSE_AGREE_PX = 3.0  # a start reckoned from the end this far inside the pulses is theirs
PULSE_SHIFT_MM = 6.0  # a row's own pulse may move its time origin at most this far (a curled page)
LONG_SPAN = 1.1  # a printed span over this many OUTPUT_SECONDS is reported as cut


@dataclass
class TimeAxis:
    px_per_s: float
    duration: float  # printed seconds read (at most OUTPUT_SECONDS)
    x_t0: float  # column of the first sample on the page scale
    tt: np.ndarray  # sample times (s) of the printed duration
    xs: np.ndarray  # page-scale column of each sample
    row_xs: list[np.ndarray]  # per row: the column of each sample (NaN off the ruler)
    n_out: int  # samples in the output record


def time_axis(
    span: Span,
    rulers: PageRulers,
    calib: Calibration,
    pulses: list[Pulse | None],
    *,
    width_px: int,
    px_per_mm: float,
    fs: float,
    warnings: list[str],
) -> TimeAxis:
    """Sample columns of every row; `px_per_mm` is the rectified page's nominal scale."""
    k, kk, speed = px_per_mm, calib.px_per_mm, calib.speed_mm_s
    cols = np.arange(width_px, dtype=np.float64)
    px_per_s = speed * kk
    d_raw = (
        (span.x_end - span.x_first) / px_per_s
        if not rulers.used
        else rulers.span_mm * (k / kk) / speed
    )
    d_snap = round(d_raw * 2) / 2
    snapped = bool(span.found and d_snap > 0 and abs(d_raw - d_snap) < SNAP_TOL_S)
    if snapped:
        duration = d_snap
        x_t0 = span.x_end - (duration - 1.0 / fs) * px_per_s
        if rulers.used:
            # The rulers, not the page scale, say how many px the printed seconds take (a
            # stretched or foreshortened page); where they agree within a pixel, keep the scale.
            back = (duration - 1.0 / fs) * speed * (kk / k)
            x_ruled = float(
                np.median(
                    [
                        np.interp(np.interp(span.x_end, cols, r.mm) - back, r.mm, cols)
                        for r in (rulers.rulers[i] for i in rulers.ruled)
                        if r is not None
                    ]
                )
            )
            if abs(x_ruled - x_t0) > RULER_AGREE_PX:
                x_t0 = x_ruled
        x_pulse = _pulses_start(pulses, k)
        if x_pulse is not None and x_t0 < x_pulse - PULSE_AGREE_PX:
            # No row starts inside its calibration pulse: reckoned back from the rows' end over
            # 10 s of a curled or crumpled page the start drifted, and the pulses' end is it. (A
            # start after the pulses is kept: a printer's foot may run on into the trace unseen.)
            x_t0 = x_pulse
    else:
        duration = d_raw
        x_t0 = span.x_first
    duration = min(duration, OUTPUT_SECONDS)
    if d_raw > OUTPUT_SECONDS * LONG_SPAN:
        warnings.append(
            f"printed span is {d_raw:.1f} s at {speed:g} mm/s; only the first 10 s are kept"
        )
    tt = np.arange(int(round(duration * fs))) / fs
    xs = x_t0 + tt * px_per_s
    # Every row starts at the same moment, right after its calibration pulse: where a row's
    # pulse ends off the rows' median (perspective, curl), its time origin moves with it.
    lim = PULSE_SHIFT_MM * k
    row_shift = [
        float(np.clip(p.trace_from - span.x_first, -lim, lim))
        if p is not None and is_standard_pulse(p, k)
        else 0.0
        for p in pulses
    ]
    row_xs = []
    for i, shift in enumerate(row_shift):
        ru = rulers.rulers[i] if rulers.used else None
        if ru is None:
            row_xs.append(xs + shift)
            continue
        mm = ru.mm * (k / kk)
        m0 = np.interp(x_t0 + shift, cols, mm)
        row_xs.append(np.interp(m0 + tt * speed, mm, cols, left=np.nan, right=np.nan))
    n_out = int(round(OUTPUT_SECONDS * fs))
    return TimeAxis(px_per_s, duration, x_t0, tt, xs, row_xs, n_out)


def _pulses_start(pulses: list[Pulse | None], px_per_mm: float) -> float | None:
    """The column the strip starts at by the rows' standard calibration pulses (right after their
    fall), None without one."""
    falls = [p.trace_from for p in pulses if p is not None and is_standard_pulse(p, px_per_mm)]
    return float(np.median(falls)) if falls else None
