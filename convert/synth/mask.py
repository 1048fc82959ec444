"""Trace masks drawn from the trace polylines themselves, in whatever coordinates the image has:
on the flat page, or mapped through a scan/photo homography (and paper curl), so the mask is as
sharp and as wide as the ink in that image instead of a resampled copy of the flat mask."""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

SHIFT = 4
ONE = 1 << SHIFT


def fixed(pts: np.ndarray) -> np.ndarray:
    """Float (N, 2) px -> OpenCV fixed-point int32 with SHIFT fractional bits."""
    return np.round(pts * ONE).astype(np.int32)


def ink_width_px(thickness: int) -> float:
    """Width of an anti-aliased OpenCV line of `thickness` at half coverage (about thickness + 1)."""
    return 1.0 if thickness <= 1 else thickness + 1.0


def thickness_for_width(width_px: float) -> int:
    """OpenCV `thickness` whose anti-aliased line is about `width_px` wide."""
    return max(1, int(round(width_px - 1.0)))


def draw_mask(
    shape: tuple[int, int], lines: list[np.ndarray], thickness: int | list[int]
) -> np.ndarray:
    """uint8 mask (255 on ink) of polylines `lines` (float px). Thin lines use 8-connected drawing
    so the mask never breaks; thicker ones are anti-aliased and cut at half coverage."""
    mask = np.zeros(shape, np.uint8)
    ths = thickness if isinstance(thickness, list) else [thickness] * len(lines)
    for th in sorted(set(ths)):
        group = [fixed(ln) for ln, t in zip(lines, ths) if t == th]
        if th <= 1:
            cv2.polylines(mask, group, False, 255, 1, cv2.LINE_8, SHIFT)
        else:
            layer = np.zeros(shape, np.uint8)
            cv2.polylines(layer, group, False, 255, th, cv2.LINE_AA, SHIFT)
            mask |= cv2.threshold(layer, 127, 255, cv2.THRESH_BINARY)[1]
    return mask


def apply_homography(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = np.c_[pts, np.ones(len(pts))] @ np.asarray(H, np.float64).T
    return q[:, :2] / q[:, 2:3]


def local_scale(H: np.ndarray, pt) -> float:
    """Linear magnification of homography `H` around flat point `pt` (sqrt of the Jacobian det)."""
    p = np.array([pt, [pt[0] + 1, pt[1]], [pt[0], pt[1] + 1]], np.float64)
    q = apply_homography(H, p)
    a, b = q[1] - q[0], q[2] - q[0]
    return float(np.sqrt(abs(a[0] * b[1] - a[1] * b[0])))  # 2-D cross product (numpy 2 has none)


def warp_lines_mask(
    shape: tuple[int, int],
    lines: list[np.ndarray],
    flat_thickness: int,
    H: np.ndarray,
    pre: Callable[[np.ndarray], np.ndarray] | None = None,
    post: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Mask in image coordinates: each polyline mapped by `pre` (e.g. paper curl, flat -> flat), `H`
    and `post` (e.g. lens distortion, image -> image), drawn as wide as the ink appears there."""
    out, ths = [], []
    w_flat = ink_width_px(flat_thickness)
    for ln in lines:
        if len(ln) == 0:
            continue
        p = pre(ln) if pre is not None else ln
        q = apply_homography(H, p)
        out.append(post(q) if post is not None else q)
        ths.append(thickness_for_width(w_flat * local_scale(H, p[len(p) // 2])))
    return draw_mask(shape, out, ths)
