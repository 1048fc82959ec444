"""Sharpness: how crisp the rectified page is, and what follows from it: a page too blurred to
read is refused, a soft one is unsharp-masked before reading, and the traces are low-passed more
the softer the page (sub-pixel stroke centres jitter more on a soft image)."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import BadInputError
from .grid import GridCalibration
from .numeric import percentile

SHARP_CRISP = 220.0  # a crisp print (sharpness, bicubic warp): no sharpening
SHARP_SOFT = 150.0  # softer than this (scans, photos): the full unsharp mask
SHARP_BLURRED = 80.0  # a blurred photo (defocus, motion, JPEG): the most trace smoothing
TOO_BLURRED = 10.0  # below this (a 0.75 mm blur scores about 9) traces cannot be followed
SOFT = 13.0  # below this, peaks read lower than printed: warn
SMOOTH_CRISP_PX = 0.3  # Gaussian sigma (rectified px along the time axis) on a crisp print
SMOOTH_BLURRED_PX = 0.6  # ... and on a blurred photo
UNSHARP_MAX = 1.0  # the unsharp mask's amount on the softest pages
UNSHARP_SIGMA_PX = 1.0  # ...and its Gaussian's sigma


def sharpness(page_bgr: np.ndarray) -> float:
    """Edge sharpness of the rectified page: 99.5th percentile of |Laplacian| of the grey image
    (a crisp print scores > 50, a 0.75 mm blur about 9). Not contrast-normalised on purpose: a
    blurred photo also loses contrast, and that is what makes it unreadable."""
    g = cv2.cvtColor(page_bgr, cv2.COLOR_BGR2GRAY)
    lap = np.abs(cv2.Laplacian(g, cv2.CV_16S))
    return float(percentile(lap[::2, ::2], 99.5))


def check_sharpness(sharp: float, grid: GridCalibration, warnings: list[str]) -> None:
    """Refuse a page too blurred to read (only with a grid found: a gridless page's sharpness
    says little); warn for a soft one."""
    if sharp < TOO_BLURRED and grid.source == "grid":
        raise BadInputError(
            "too_blurry",
            f"the image is too blurred to follow the traces (sharpness {sharp:.0f})",
            "hold the camera still, tap to focus on the paper and take the photo again",
        )
    if sharp < SOFT:
        warnings.append(
            f"the image is soft (sharpness {sharp:.0f}): peaks may be lower than printed"
        )


def unsharp_amount(sharp: float, grid: GridCalibration) -> float:
    """How much to sharpen a soft page (0 for a crisp one, and never without a grid: no noise
    into "ink")."""
    if grid.source != "grid":
        return 0.0
    return (
        float(np.clip((SHARP_CRISP - sharp) / (SHARP_CRISP - SHARP_SOFT), 0.0, 1.0)) * UNSHARP_MAX
    )


def unsharp(img_bgr: np.ndarray, amount: float, sigma_px: float = UNSHARP_SIGMA_PX) -> np.ndarray:
    """Unsharp mask: restores some of the edge contrast that scanner or camera blur took from thin
    strokes, so stroke centres and spike tips are read more exactly."""
    # One channel at a time, in place: the same float32 arithmetic as on the whole image
    # (f + amount * (f - blur)), with two page-sized float planes alive instead of five images.
    out = np.empty_like(img_bgr)
    for c in range(img_bgr.shape[2] if img_bgr.ndim == 3 else 1):
        f = (img_bgr[:, :, c] if img_bgr.ndim == 3 else img_bgr).astype(np.float32)
        d = cv2.GaussianBlur(f, (0, 0), sigma_px)
        np.subtract(f, d, out=d)
        d *= amount
        d += f
        np.clip(d, 0, 255, out=d)
        if img_bgr.ndim == 3:
            out[:, :, c] = d
        else:
            out[:] = d
    return out


def trace_smoothing_px(sharp: float) -> float:
    """Low-pass for the sampled traces, in rectified pixels: sub-pixel stroke and centre points
    jitter by a fraction of a pixel, more the softer the image, and that jitter (not the ECG) is
    what remains above the page's resolution; twice as much smoothing blunts QRS peaks on crisp
    prints."""
    return float(
        np.interp(sharp, [SHARP_BLURRED, SHARP_CRISP], [SMOOTH_BLURRED_PX, SMOOTH_CRISP_PX])
    )


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the Laplacian of a grey image: the preview's and the camera's sharpness (the
    capture config's `min_sharpness` is in these units, measured at preview scale). Unlike
    sharpness() it needs no rectified page, so it can judge a raw frame."""
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())
