"""Digitizer: photo or scan of a paper ECG -> calibrated 12-lead signals.

Stages, one module each: `page` (outline, perspective, rotation, working resolution), `grid`
(px/mm from periodicity), `traceprob` (pluggable per-pixel trace probability), `layout` (rows,
pulses, gain/speed, lead names), `extract` (DP path per row, sub-pixel, px -> mV/time)."""

from .page import WORK_PX_PER_MM
from .pipeline import digitize
from .result import DigitizeResult

__all__ = ["digitize", "DigitizeResult", "WORK_PX_PER_MM"]
