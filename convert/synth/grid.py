"""ECG grid paper: 1 mm minor and 5 mm major lines (or dotted minor grid), anti-aliased at any DPI.

Line coverage is computed exactly per pixel from 1-D profiles, quantised into a cached 8-bit index
image (16 minor x 16 major coverage levels); colouring it is one `cv2.LUT`, so a page's paper
costs a few milliseconds whatever the palette.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


def _line_profile(n: int, start: float, stop: float, pitch: float, width: float) -> np.ndarray:
    """Per-pixel coverage (0..1) of lines of `width` px every `pitch` px from `start` to `stop`."""
    x = np.arange(n, dtype=np.float64)
    k = np.round((x - start) / pitch)
    k = np.clip(k, 0, np.floor((stop - start) / pitch + 1e-6))
    d = np.abs(x - (start + k * pitch))
    cov = np.clip(np.minimum(d + 0.5, width / 2) - np.maximum(d - 0.5, -width / 2), 0.0, 1.0)
    inside = (x >= start - width) & (x <= stop + width)
    return np.where(inside, cov, 0.0)


@lru_cache(maxsize=12)
def grid_index(width: int, height: int, px_per_mm: float, rect: tuple[float, float, float, float],
               minor_w_px: float, major_w_px: float, dotted: bool, dot_px: float) -> np.ndarray:
    """uint8 index image: high nibble = minor coverage level, low nibble = major coverage level."""
    x0, y0, x1, y1 = rect
    mx = _line_profile(width, x0, x1, px_per_mm, minor_w_px)
    my = _line_profile(height, y0, y1, px_per_mm, minor_w_px)
    Mx = _line_profile(width, x0, x1, 5 * px_per_mm, major_w_px)
    My = _line_profile(height, y0, y1, 5 * px_per_mm, major_w_px)
    inx = ((np.arange(width) >= x0 - 1) & (np.arange(width) <= x1 + 1)).astype(np.float64)
    iny = ((np.arange(height) >= y0 - 1) & (np.arange(height) <= y1 + 1)).astype(np.float64)
    if dotted:
        dx = _line_profile(width, x0, x1, px_per_mm, dot_px)
        dy = _line_profile(height, y0, y1, px_per_mm, dot_px)
        minor = np.outer(dy, dx)
    else:  # vertical lines only inside the grid rows, horizontal lines only inside its columns
        minor = 1.0 - (1.0 - np.outer(iny, mx)) * (1.0 - np.outer(my, inx))
    major = 1.0 - (1.0 - np.outer(iny, Mx)) * (1.0 - np.outer(My, inx))
    idx = (np.round(minor * 15).astype(np.uint8) << 4) | np.round(major * 15).astype(np.uint8)
    idx.setflags(write=False)
    return idx


def grid_lut(paper, minor, major) -> np.ndarray:
    """256x1x3 LUT: colour for every (minor level, major level) pair, BGR."""
    a1 = (np.arange(256) >> 4) / 15.0
    a2 = (np.arange(256) & 15) / 15.0
    p, m1, m2 = (np.asarray(c, np.float64) for c in (paper, minor, major))
    c = p[None] * (1 - a1[:, None]) + m1[None] * a1[:, None]
    c = c * (1 - a2[:, None]) + m2[None] * a2[:, None]
    return np.clip(np.round(c), 0, 255).astype(np.uint8).reshape(256, 1, 3)


def render_grid(width: int, height: int, px_per_mm: float, rect, colours: dict, *, minor_w_mm: float,
                major_w_mm: float, dotted: bool = False, dot_mm: float = 0.3, draw_grid: bool = True) -> np.ndarray:
    """BGR page of `width` x `height` with the paper colour and grid lines inside `rect` (px)."""
    if not draw_grid:
        return np.full((height, width, 3), colours["paper"], np.uint8)
    idx = grid_index(width, height, round(px_per_mm, 6), tuple(round(v, 4) for v in rect),
                     round(minor_w_mm * px_per_mm, 4), round(major_w_mm * px_per_mm, 4), dotted,
                     round(dot_mm * px_per_mm, 4))
    lut = grid_lut(colours["paper"], colours["minor"], colours["major"])
    return cv2.LUT(cv2.merge([idx, idx, idx]), lut)
