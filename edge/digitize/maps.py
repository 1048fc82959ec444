"""The maps of one rectified page that several stages read: ink darkness, ink without grid lines
and grid darkness, each computed on first use and kept only as long as the page's reading."""

from __future__ import annotations

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

    def __init__(self, image: np.ndarray, px_per_mm: float = WORK_PX_PER_MM) -> None:
        self.image = image
        self.px_per_mm = px_per_mm

    def release(self, *names: str) -> None:
        """Drop the named maps once the stages that read them are done (each is a page-sized
        float array); one asked for again is computed again, to the same values."""
        for name in names:
            self.__dict__.pop(name, None)

    @cached_property
    def ink_darkness(self) -> np.ndarray:
        """0..1 darkness against the local paper, from the brightest channel (traceprob)."""
        return ink_darkness(self.image, self.px_per_mm)

    @cached_property
    def ink_without_grid(self) -> np.ndarray:
        """ink_darkness with grid-line residue removed: what the classical map, the faint-pen
        check and the printed-text reader start from."""
        return suppress_grid_lines(self.ink_darkness, self.px_per_mm)

    @cached_property
    def classical_trace(self) -> np.ndarray:
        """The classical trace probability (traceprob.classical_from_ink): printed marks the
        segmenter was not taught as trace, such as calibration pulses, keep their ink here."""
        return classical_from_ink(self.ink_without_grid)

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
