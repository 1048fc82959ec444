"""Sampling: each row's trace read at its time axis's columns, levelled where the paper tilts or
bends (the row's grid lines move with the baseline, edge.digitize.dewarp.row_levels), and
converted to mV from its calibration pulse's foot (or its median) at the page's gain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibration import Calibration
from .dewarp import row_levels
from .extract import polyline_to_samples, smooth_samples
from .maps import PageMaps
from .rows import SelectedRows
from .sharpness import trace_smoothing_px
from .span import Span
from .timeaxis import TimeAxis


@dataclass
class RowSamples:
    signals: list[np.ndarray]  # per row, mV, low-passed
    raw: list[np.ndarray]  # per row, mV, before the low-pass (segments are smoothed on their own)
    baselines: list[float]  # per row, the 0 mV level (rectified px)
    sigma: float  # the low-pass's Gaussian sigma, in samples


def sample_rows(
    maps: PageMaps,
    prob: np.ndarray,
    sel: SelectedRows,
    span: Span,
    axis: TimeAxis,
    calib: Calibration,
    *,
    sharpness: float,
    fs: float,
    has_grid: bool,
) -> RowSamples:
    """Every selected row's samples in mV (NaN where its trace is not followed)."""
    k = maps.px_per_mm
    cols = np.arange(prob.shape[1], dtype=np.float64)
    sigma = trace_smoothing_px(sharpness) * fs / axis.px_per_s
    mv_per_px = 1.0 / (calib.gain_mm_mv * calib.px_per_mm)
    levels = (
        row_levels(
            maps.image, prob, sel.centres, sel.pitch, k, sel.extents, dark=maps.grid_darkness
        )
        if has_grid
        else [None] * len(sel.centres)
    )
    sigs: list[np.ndarray] = []
    raws: list[np.ndarray] = []
    baselines: list[float] = []
    for i, (tr, pl) in enumerate(zip(sel.traces, sel.pulses)):
        rx = axis.row_xs[i]
        assert tr.px is not None and tr.py is not None  # refine_path always draws the polyline
        yv = polyline_to_samples(tr.px, tr.py, np.nan_to_num(rx, nan=-1e9))
        yv = np.where(np.isfinite(rx), yv, np.nan)
        lv = levels[i]
        if lv is not None:
            ref = np.interp(0.5 * (pl.x_rise + pl.x_fall), cols, lv) if pl is not None else 0.0
            yv = yv - (np.interp(np.nan_to_num(rx), cols, lv) - ref)
        ext = sel.extents[i]
        if ext is not None:
            a: float = ext[0]
            b: float = ext[1]
            if i in span.good:
                # Printed rows span the common time range: glare or fading that broke this row's
                # ink does not shorten it (where no ink is followed the samples stay NaN).
                a, b = min(a, span.x_first), max(b, span.x_end)
            yv = np.where((rx >= a - 1) & (rx <= b + 1), yv, np.nan)
        if pl is not None:
            base = pl.foot_y
        else:
            base = float(np.nanmedian(yv)) if np.isfinite(yv).any() else sel.centres[i]
        baselines.append(base)
        raws.append((base - yv) * mv_per_px)
        yv = smooth_samples(yv, sigma)
        sigs.append((base - yv) * mv_per_px)
    return RowSamples(sigs, raws, baselines, sigma)
