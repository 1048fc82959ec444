"""Procedural surfaces around a photographed page: wood, cloth, plain or speckled desks, a dark
table and clutter (other papers, objects), so the page finder cannot rely on one backdrop."""

from __future__ import annotations

import cv2
import numpy as np

from .effects import smooth_field

KINDS = ("wood", "cloth", "plain", "speckle", "dark", "clutter")


def make_background(kind: str, w: int, h: int, seed: int) -> np.ndarray:
    """BGR uint8 background of `kind`, size w x h, seeded."""
    rng = np.random.default_rng(seed)
    s = 4  # textures are built at quarter resolution and resized: they are smooth or noisy anyway
    sw, sh = max(8, w // s), max(8, h // s)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    if kind == "wood":  # grain: a random 1-D ring profile across the grain, bent by smooth warps
        base = (
            np.array(
                [[60, 100, 150], [110, 170, 215], [35, 60, 95], [70, 120, 170]][
                    int(rng.integers(0, 4))
                ],
                np.float32,
            )
            * rng.uniform(0.97, 1.03, 3).astype(np.float32)
            * np.float32(rng.uniform(0.85, 1.15))
        )
        ang = rng.uniform(0, np.pi)
        across = -xx * np.sin(ang) + yy * np.cos(ang)
        across = (
            across
            + smooth_field(rng, sw, sh, cells=3) * rng.uniform(10, 40)
            + smooth_field(rng, sw, sh, cells=9) * rng.uniform(2, 8)
        )
        across -= across.min()
        n = int(across.max()) + 3
        fine = cv2.GaussianBlur(rng.standard_normal((1, n)).astype(np.float32), (0, 0), 0.8).ravel()
        rings = cv2.GaussianBlur(rng.standard_normal((1, n)).astype(np.float32), (0, 0), 6).ravel()
        prof = 0.5 * fine / (fine.std() + 1e-6) + rings / (rings.std() + 1e-6)
        grain = (
            np.interp(across.ravel(), np.arange(n), prof).reshape(across.shape).astype(np.float32)
        )
        grain = (grain - grain.min()) / (np.ptp(grain) + 1e-6)
        img = (
            base[None, None]
            * (0.72 + 0.4 * grain[..., None])
            * (0.9 + 0.2 * smooth_field(rng, sw, sh, 4))[..., None]
        )
    elif kind == "cloth":
        base = rng.uniform(40, 200, 3).astype(np.float32)
        f = rng.uniform(0.8, 1.6)
        weave = 0.5 + 0.25 * (np.sin(xx * f) + np.sin(yy * f))
        img = (
            base[None, None]
            * (0.85 + 0.15 * weave[..., None])
            * (0.8 + 0.3 * smooth_field(rng, sw, sh, 5))[..., None]
        )
    elif kind == "plain":
        base = rng.uniform(60, 235, 3).astype(np.float32)
        img = base[None, None] * (0.85 + 0.25 * smooth_field(rng, sw, sh, 3))[..., None]
    elif kind == "speckle":
        base = rng.uniform(90, 200, 3).astype(np.float32)
        sp = cv2.GaussianBlur(rng.random((sh, sw)).astype(np.float32), (0, 0), 0.8)
        img = base[None, None] * (0.75 + 0.5 * sp[..., None])
    elif kind == "dark":
        base = rng.uniform(10, 45, 3).astype(np.float32)
        img = base[None, None] * (0.7 + 0.6 * smooth_field(rng, sw, sh, 4))[..., None]
    elif kind == "clutter":
        base = rng.uniform(70, 200, 3).astype(np.float32)
        img = base[None, None] * (0.85 + 0.25 * smooth_field(rng, sw, sh, 3))[..., None]
    else:
        raise ValueError(f"unknown background {kind!r}; choose one of {', '.join(KINDS)}")
    img = cv2.resize(np.clip(img, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    if kind == "clutter":  # other sheets and objects, drawn at full resolution with smooth edges
        for _ in range(int(rng.integers(2, 7))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            rw, rh = rng.uniform(0.1, 0.5) * w, rng.uniform(0.1, 0.5) * h
            box = cv2.boxPoints(
                ((float(cx), float(cy)), (float(rw), float(rh)), float(rng.uniform(0, 180)))
            )
            col = rng.uniform(200, 250, 3) if rng.random() < 0.6 else rng.uniform(10, 120, 3)
            cv2.fillPoly(
                img,
                [np.round(box * 16).astype(np.int32)],
                tuple(float(c) for c in col),
                cv2.LINE_AA,
                4,
            )
            if col.mean() > 180:  # a sheet with lines of text
                for k in range(int(rng.integers(3, 12))):
                    p = box[0] + (box[1] - box[0]) * 0.1 + (box[3] - box[0]) * (0.1 + 0.07 * k)
                    q = p + (box[1] - box[0]) * rng.uniform(0.3, 0.8)
                    cv2.line(
                        img,
                        tuple(int(v) for v in p),
                        tuple(int(v) for v in q),
                        (60, 60, 60),
                        max(1, w // 800),
                        cv2.LINE_AA,
                    )
    return img
