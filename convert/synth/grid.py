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
def grid_index(
    width: int,
    height: int,
    px_per_mm: float,
    rect: tuple[float, float, float, float],
    minor_w_px: float,
    major_w_px: float,
    dotted: bool,
    dot_px: float,
) -> np.ndarray:
    """uint8 index image: high nibble = minor coverage level, low nibble = major coverage level."""
    x0, y0, x1, y1 = rect

    def q(profile: np.ndarray) -> np.ndarray:
        return np.round(profile * 15).astype(np.uint8)

    mx, my = (
        q(_line_profile(width, x0, x1, px_per_mm, minor_w_px)),
        q(_line_profile(height, y0, y1, px_per_mm, minor_w_px)),
    )
    Mx = q(_line_profile(width, x0, x1, 5 * px_per_mm, major_w_px))
    My = q(_line_profile(height, y0, y1, 5 * px_per_mm, major_w_px))
    if dotted:
        dx = _line_profile(width, x0, x1, px_per_mm, dot_px).astype(np.float32)
        dy = _line_profile(height, y0, y1, px_per_mm, dot_px).astype(np.float32)
        minor = q(np.outer(dy, dx))
    else:  # union of line coverages taken as their max (exact away from crossings, close at them)
        minor = np.maximum(my[:, None], mx[None, :])
    major = np.maximum(My[:, None], Mx[None, :])
    # lines stop at the grid's edge
    cx0, cx1 = max(0, int(np.floor(x0 - 1))), min(width, int(np.ceil(x1 + 2)))
    cy0, cy1 = max(0, int(np.floor(y0 - 1))), min(height, int(np.ceil(y1 + 2)))
    for m in (minor, major):
        m[:cy0], m[cy1:], m[:, :cx0], m[:, cx1:] = 0, 0, 0, 0
    idx = (minor << 4) | major
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


def render_grid(
    width: int,
    height: int,
    px_per_mm: float,
    rect,
    colours: dict,
    *,
    minor_w_mm: float,
    major_w_mm: float,
    dotted: bool = False,
    dot_mm: float = 0.3,
    draw_grid: bool = True,
) -> np.ndarray:
    """BGR page of `width` x `height` with the paper colour and grid lines inside `rect` (px)."""
    if not draw_grid:
        return np.full((height, width, 3), colours["paper"], np.uint8)
    idx = grid_index(
        width,
        height,
        round(px_per_mm, 6),
        tuple(round(v, 4) for v in rect),
        round(minor_w_mm * px_per_mm, 4),
        round(major_w_mm * px_per_mm, 4),
        dotted,
        round(dot_mm * px_per_mm, 4),
    )
    lut = grid_lut(colours["paper"], colours["minor"], colours["major"])
    return cv2.LUT(cv2.merge([idx, idx, idx]), lut)
