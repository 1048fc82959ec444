"""Orientation: is the rectified page upside down? Calibration pulses sit at the left and point
up; on a turned page they sit at the right and point down. Without pulses, ECG deflections point
up more often than down: a weak cue that must be clear."""

from __future__ import annotations

from dataclasses import dataclass

from .paths import RowPaths
from .pulses import is_standard_pulse
from .rows import Rows

UPSIDE_DOWN_INK = (
    0.4  # ink-below-baseline score that turns a page without pulses (upright pages reach ~0.35)
)


@dataclass
class Orientation:
    turn: bool  # read the page after a half turn
    pulses_left: int
    pulses_flipped: int
    ink_score: float

    def to_dict(self) -> dict:
        return {
            "pulses_left": self.pulses_left,
            "pulses_flipped": self.pulses_flipped,
            "ink_score": round(float(self.ink_score), 3),
        }


def orientation(rows: Rows, paths: RowPaths, px_per_mm: float) -> Orientation:
    """Whether to turn the page. A row's end can pass for one pulse by chance, so a lone turned
    pulse counts only with a standard shape."""
    n_left = sum(p is not None for p in paths.pulses)
    n_flip = len(paths.flipped_pulses)
    if n_left or n_flip:
        turn = n_left < n_flip and (
            n_flip >= 2 or any(is_standard_pulse(p, px_per_mm) for p in paths.flipped_pulses)
        )
    else:
        turn = rows.upside_down_score > UPSIDE_DOWN_INK
    return Orientation(bool(turn), n_left, n_flip, float(rows.upside_down_score))
