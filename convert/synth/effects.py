"""Image effects shared by scans and photos: smooth random fields, folds and creases, stains,
blur, sensor noise, JPEG. Each takes its parameters explicitly so a page can be re-made from the
recorded values; heavy per-pixel fields are made at low resolution and resized (they are smooth).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .text import draw_handwriting


def smooth_field(rng: np.random.Generator, w: int, h: int, cells: int = 6) -> np.ndarray:
    """Smooth random field in [0, 1] of size h x w (float32), `cells` random knots across."""
    ch = max(2, int(round(cells * h / max(w, 1))))
    small = rng.random((ch, cells)).astype(np.float32)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)


def multiply(img: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """img * gain (gain h x w or h x w x 3, float32), saturating to uint8."""
    if gain.ndim == 2:
        gain = cv2.merge([gain, gain, gain])
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def fold_shading(w: int, h: int, folds: list[dict], scale: int = 4) -> np.ndarray:
    """Multiplicative shading (h x w float32) of folds/creases: a dark crease line with a lit and
    a shaded side. Each fold: {'p': [x, y], 'angle_deg', 'width_px', 'depth', 'light'}."""
    sw, sh = max(2, w // scale), max(2, h // scale)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xx, yy = xx * scale, yy * scale
    g = np.ones((sh, sw), np.float32)
    for f in folds:
        a = np.deg2rad(f["angle_deg"])
        d = (xx - f["p"][0]) * -np.sin(a) + (yy - f["p"][1]) * np.cos(
            a
        )  # signed distance to the fold line
        wpx = f["width_px"]
        g *= 1 - f["depth"] * np.exp(-0.5 * (d / (0.15 * wpx)) ** 2)  # the crease itself
        g *= 1 + f["light"] * np.tanh(d / wpx) * np.exp(
            -np.abs(d) / (4 * wpx)
        )  # lit / shaded sides
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)


def crumple_shading(rng: np.random.Generator, w: int, h: int, strength: float) -> np.ndarray:
    """Multiplicative shading of crumpled paper: many small random facets, smoothed."""
    f = smooth_field(rng, w, h, cells=int(rng.integers(10, 24)))
    f2 = smooth_field(rng, w, h, cells=int(rng.integers(30, 60)))
    return (1 - strength * (0.6 * f + 0.4 * f2 - 0.5)).astype(np.float32)


def add_stains(img: np.ndarray, stains: list[dict]) -> None:
    """Coffee/water stains in place: soft ellipses (or rings) darkening with a brownish tint."""
    h, w = img.shape[:2]
    for s in stains:
        layer = np.zeros((h, w), np.uint8)
        c = (int(s["x"]), int(s["y"]))
        axes = (int(s["rx"]), int(s["ry"]))
        th = max(2, int(s["ring_px"])) if s["ring"] else -1
        cv2.ellipse(layer, c, axes, s["angle_deg"], 0, 360, 255, th, cv2.LINE_AA)
        k = int(max(3, s["soft_px"])) | 1
        x0, y0 = max(0, c[0] - axes[0] - 2 * k), max(0, c[1] - axes[1] - 2 * k)
        x1, y1 = min(w, c[0] + axes[0] + 2 * k), min(h, c[1] + axes[1] + 2 * k)
        if x1 <= x0 or y1 <= y0:
            continue
        a = cv2.GaussianBlur(layer[y0:y1, x0:x1], (k, k), 0).astype(np.float32) / 255 * s["opacity"]
        tint = np.array(s["tint_bgr"], np.float32) / 255
        roi = img[y0:y1, x0:x1].astype(np.float32)
        roi *= 1 - a[..., None] * (1 - tint[None, None])
        img[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)


def sample_stains(rng: np.random.Generator, n: int, w: int, h: int, px_per_mm: float) -> list[dict]:
    """Parameters of `n` stains (coffee rings or blots) on a w x h page."""
    out = []
    for _ in range(n):
        r = float(rng.uniform(8, 40) * px_per_mm)
        brown = rng.random() < 0.7
        out.append(
            {
                "x": float(rng.uniform(0, w)),
                "y": float(rng.uniform(0, h)),
                "rx": r,
                "ry": float(r * rng.uniform(0.7, 1.0)),
                "angle_deg": float(rng.uniform(0, 180)),
                "ring": bool(rng.random() < 0.5),
                "ring_px": float(rng.uniform(1, 4) * px_per_mm),
                "soft_px": float(rng.uniform(1, 6) * px_per_mm),
                "opacity": float(rng.uniform(0.15, 0.5)),
                "tint_bgr": [60, 120, 190] if brown else [200, 200, 200],
            }
        )
    return out


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Normalised line kernel of `length` px at `angle_deg` (camera shake)."""
    n = int(np.ceil(length)) | 1
    k = np.zeros((n, n), np.float32)
    c = (n - 1) / 2
    dx, dy = np.cos(np.deg2rad(angle_deg)) * length / 2, np.sin(np.deg2rad(angle_deg)) * length / 2
    cv2.line(
        k,
        (int(round((c - dx) * 16)), int(round((c - dy) * 16))),
        (int(round((c + dx) * 16)), int(round((c + dy) * 16))),
        1.0,
        1,
        cv2.LINE_AA,
        4,
    )
    return k / max(k.sum(), 1e-6)


def blur(
    img: np.ndarray, defocus_sigma: float, motion_len: float, motion_angle: float
) -> np.ndarray:
    """Defocus (Gaussian) then motion blur."""
    if defocus_sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), defocus_sigma)
    if motion_len >= 1.5:
        img = cv2.filter2D(img, -1, motion_kernel(motion_len, motion_angle))
    return img


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """A fixed 1031x1031x3 bank of standard normal noise; pages take seeded random windows of it."""
    return np.random.default_rng(20240531).standard_normal((1031, 1031, 3), dtype=np.float32)


def sensor_noise(img: np.ndarray, seed: int, sigma: float, shot: float) -> np.ndarray:
    """Gaussian read noise `sigma` plus signal-dependent shot noise `shot`*sqrt(value), seeded."""
    if sigma <= 0 and shot <= 0:
        return img
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    tile = _noise_tile()
    t = tile.shape[0]
    oy, ox = (int(v) for v in rng.integers(0, t, 2))
    flip = int(rng.integers(0, 4))
    base = np.roll(tile, (oy, ox), axis=(0, 1))
    base = base[::-1] if flip & 1 else base
    base = base[:, ::-1] if flip & 2 else base
    n = cv2.repeat(np.ascontiguousarray(base[..., : img.shape[2]]), -(-h // t), -(-w // t))[:h, :w]
    f = img.astype(np.float32)
    if shot > 0:
        s = np.sqrt(f)
        s *= shot
        s += sigma
        s *= n
    else:
        s = n * np.float32(sigma)
    f += s
    np.maximum(f, 0, out=f)
    return cv2.convertScaleAbs(f)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG at `quality`."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def marked_copy(page: np.ndarray, p: dict, px_per_mm: float) -> np.ndarray:
    """A copy of the flat page with what people add to paper before it is scanned or
    photographed: the handwritten notes and stains recorded in `p`."""
    page = page.copy()
    if p["notes"]:
        draw_handwriting(page, np.random.default_rng(p["notes_seed"]), p["notes"], px_per_mm)
    if p["stains"]:
        add_stains(page, p["stains"])
    return page
