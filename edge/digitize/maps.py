"""The maps of one rectified page that several stages read: ink darkness, ink without grid lines
and grid darkness, each computed on first use and kept only as long as the page's reading."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np

from .grid import grid_darkness
from .page import WORK_PX_PER_MM
from .traceprob import classical_from_ink, ink_darkness, ink_level, suppress_grid_lines

FAINT_PEN_RATIO = 0.6  # middle-band ink level below this fraction of the page's: a faint pen


class PageMaps:
    """One rectified page (uint8 BGR at `px_per_mm`) and the maps computed from it. A reading
    holds one for the page it reads, and releases each map when its last reader is done;
    nothing outlives the digitize() call that made it."""

    _RESAMPLED = ("ink_darkness", "classical_trace")

    def __init__(self, image: np.ndarray, px_per_mm: float = WORK_PX_PER_MM) -> None:
        self.image = image
        self.px_per_mm = px_per_mm
        self._resample: Callable[[np.ndarray], np.ndarray] | None = None

    def release(self, *names: str) -> None:
        """Drop the named maps once the stages that read them are done (each is a page-sized
        float array); one asked for again is computed again, to the same values."""
        for name in names:
            self.__dict__.pop(name, None)

    def resample_traces(self, resample: Callable[[np.ndarray], np.ndarray] | None) -> None:
        """From now on (None: no longer) the ink darkness and the classical trace map are read
        resampled by `resample` (in place, same shape: edge.digitize.lean stands the grid upright
        about each row): each is resampled now if it is held, else once it is computed, from
        maps of the page as it was photographed (so a stroke printed along a grid line is not
        suppressed with it). Turned off, the resampled maps are dropped."""
        if resample is None:
            self.release(*self._RESAMPLED)
        else:
            for name in self._RESAMPLED:
                if name in self.__dict__:
                    resample(self.__dict__[name])
        self._resample = resample

    def _resampled(self, a: np.ndarray) -> np.ndarray:
        return a if self._resample is None else self._resample(a)

    @cached_property
    def ink_darkness(self) -> np.ndarray:
        """0..1 darkness against the local paper, from the brightest channel (traceprob)."""
        return self._resampled(ink_darkness(self.image, self.px_per_mm))

    @cached_property
    def ink_without_grid(self) -> np.ndarray:
        """ink_darkness with grid-line residue removed: what the classical map, the faint-pen
        check and the printed-text reader start from."""
        # Grid lines are suppressed on the page as photographed: a stroke printed along a grid
        # line that the resampling stood upright would be suppressed with it.
        d = (
            self.ink_darkness
            if self._resample is None
            else ink_darkness(self.image, self.px_per_mm)
        )
        return suppress_grid_lines(d, self.px_per_mm)

    @cached_property
    def classical_trace(self) -> np.ndarray:
        """The classical trace probability (traceprob.classical_from_ink): printed marks the
        segmenter was not taught as trace, such as calibration pulses, keep their ink here."""
        return self._resampled(classical_from_ink(self.ink_without_grid))

    @cached_property
    def grid_darkness(self) -> np.ndarray:
        """Grid-line darkness (edge.digitize.grid), float32: what rulers and levels read (in
        float64, band by band: a float64 copy of the whole page would double its size)."""
        return grid_darkness(self.image)

    @cached_property
    def pen_fainter_than_text(self) -> bool:
        """Traces drawn much fainter (a grey or worn pen, faded thermal paper) than the text."""
        d = self.ink_without_grid
        return ink_level(d, middle_band=True) < FAINT_PEN_RATIO * ink_level(d)
