"""Turn a flat page into a flatbed scan of a handled printout: slight rotation and offset on the
scanner bed, lid border, creases and folds, stains, handwritten notes and scribbles, brightness and
gamma shifts, scanner noise, slight blur, sometimes JPEG.

Like photos, parameters are sampled, recorded and then applied; the homography (an affine
rotation + offset) maps flat page pixels to scan pixels exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from .effects import blur, fold_shading, jpeg, marked_copy, multiply, sample_stains, sensor_noise
from .mask import warp_lines_mask


def sample_scan_params(
    rng: np.random.Generator, page_size: tuple[int, int], px_per_mm: float
) -> dict:
    """Draw every scan parameter (seeded). Lengths in scan px unless named _mm."""
    w, h = page_size
    p = {
        "rotation_deg": float(rng.normal(0, 1.2)) + (180.0 if rng.random() < 0.03 else 0.0),
        "shift_px": [float(v) for v in rng.normal(0, 2.0, 2) * px_per_mm],
        "border_mm": [
            float(v) for v in rng.uniform(0, 6, 4)
        ],  # left, top, right, bottom scanner bed margin
        "bed_bgr": [int(v) for v in rng.integers(200, 256, 1).repeat(3) - rng.integers(0, 10, 3)],
        "folds": [],
        "stains": sample_stains(rng, int(rng.integers(1, 3)), w, h, px_per_mm)
        if rng.random() < 0.35
        else [],
        "notes": int(rng.integers(1, 5)) if rng.random() < 0.5 else 0,
        "notes_seed": int(rng.integers(0, 2**31 - 1)),
        "brightness": float(rng.uniform(-15, 15)),
        "contrast": float(rng.uniform(0.85, 1.1)),
        "gamma": float(rng.uniform(0.8, 1.25)),
        "blur_sigma": float(rng.uniform(0.2, 0.9)),
        "noise_sigma": float(rng.uniform(0.5, 4.0)),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
        "jpeg_quality": int(rng.integers(70, 96)) if rng.random() < 0.4 else 0,
    }
    for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):  # letter/half folds and random creases
        axis = str(rng.choice(["x", "y", "any"]))
        p["folds"].append(
            {
                "p": [float(rng.uniform(0.2, 0.8) * w), float(rng.uniform(0.2, 0.8) * h)],
                "angle_deg": {"x": 90.0, "y": 0.0}.get(axis, float(rng.uniform(0, 180)))
                + float(rng.normal(0, 2)),
                "width_px": float(rng.uniform(0.8, 3) * px_per_mm),
                "depth": float(rng.uniform(0.08, 0.35)),
                "light": float(rng.uniform(0.02, 0.1)),
            }
        )
    p["grayscale"] = bool(rng.random() < 0.25)
    # a photocopy (of a photocopy): grey, harsh contrast that thins the grid, toner specks
    p["photocopy"] = (
        {
            "contrast": float(rng.uniform(1.4, 2.2)),
            "threshold": float(rng.uniform(150, 205)),
            "specks_per_mpx": float(rng.uniform(20, 300)),
            "seed": int(rng.integers(0, 2**31 - 1)),
        }
        if rng.random() < 0.15
        else None
    )
    return p


def photocopy(img: np.ndarray, pc: dict) -> np.ndarray:
    """Grey, steep tone curve around `threshold` (light grid lines fade, ink stays), toner specks."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    x = np.arange(256, dtype=np.float64)
    lut = np.clip((x - pc["threshold"]) * pc["contrast"] + 235, 0, 255).astype(np.uint8)
    g = cv2.LUT(g, lut)
    rng = np.random.default_rng(pc["seed"])
    h, w = g.shape
    n = int(pc["specks_per_mpx"] * h * w / 1e6)
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    r = rng.choice([0, 0, 0, 1, 1, 2], n)
    for y, x_, rr, v in zip(ys, xs, r, rng.integers(0, 120, n)):
        cv2.circle(g, (int(x_), int(y)), int(rr), int(v), -1, cv2.LINE_AA)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def scan_homography(
    page_size: tuple[int, int], p: dict, px_per_mm: float
) -> tuple[np.ndarray, tuple[int, int]]:
    """Affine page -> scan (rotation about the page centre, shift, bed margin) and the scan size."""
    w, h = page_size
    bl, bt, br, bb = (m * px_per_mm for m in p["border_mm"])
    W, H = int(round(w + bl + br)), int(round(h + bt + bb))
    A = cv2.getRotationMatrix2D((w / 2, h / 2), p["rotation_deg"], 1.0)
    A[:, 2] += [bl + p["shift_px"][0], bt + p["shift_px"][1]]
    return np.vstack([A, [0, 0, 1]]), (W, H)


def apply_scan(
    page: np.ndarray, lines: list[np.ndarray], thickness: int, p: dict, px_per_mm: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make the scan described by `p` from the flat page and its trace polylines (flat px, drawn
    with `thickness`); return (scan, trace mask in scan px, homography)."""
    h, w = page.shape[:2]
    page = marked_copy(page, p, px_per_mm)
    if p["folds"]:
        page = multiply(page, fold_shading(w, h, p["folds"]))
    H, (W, Hh) = scan_homography((w, h), p, px_per_mm)
    img = cv2.warpPerspective(
        page,
        H,
        (W, Hh),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(p["bed_bgr"]),
    )
    wmask = warp_lines_mask((Hh, W), lines, thickness, H)
    lut = np.clip(
        ((np.arange(256) / 255.0) ** p["gamma"] * 255 - 128) * p["contrast"]
        + 128
        + p["brightness"],
        0,
        255,
    )
    img = cv2.LUT(img, lut.astype(np.uint8))
    if p.get("photocopy"):
        img = photocopy(img, p["photocopy"])
    img = blur(img, p["blur_sigma"], 0, 0)
    img = sensor_noise(img, p["noise_seed"], p["noise_sigma"], 0.0)
    if p.get("grayscale") or p.get("photocopy"):  # a grey scan: grey noise too
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if p["jpeg_quality"]:
        img = jpeg(img, p["jpeg_quality"])
    return img, wmask, H


def scan_distort(
    page: np.ndarray,
    lines: list[np.ndarray],
    rng: np.random.Generator,
    meta: dict,
    *,
    overrides: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """render_page's scan mode: sample (then override) parameters, apply, return the record."""
    k = meta["px_per_mm"]
    p = sample_scan_params(rng, (page.shape[1], page.shape[0]), k)
    overrides = {
        k: v
        for k, v in (overrides or {}).items()
        if k not in ("mode", "homography", "image_size", "homography_exact")
    }  # derived, not parameters
    unknown = set(overrides) - set(p)
    if unknown:
        raise ValueError(f"unknown scan parameter(s): {', '.join(sorted(unknown))}")
    p.update(overrides)
    img, wmask, H = apply_scan(page, lines, meta["trace_thickness_px"], p, k)
    dist = {
        "mode": "scan",
        **p,
        "homography": H.tolist(),
        "image_size": [int(img.shape[1]), int(img.shape[0])],
        "homography_exact": True,
    }
    return img, wmask, dist
