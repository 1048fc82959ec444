"""Turn a flat page into a phone/camera photo: page held or lying at an angle (3-D pose through a
pinhole camera), desk around it, uneven light and shadow, glare, paper curl/crumple/folds,
handwritten notes, defocus and motion blur, sensor noise and JPEG.

Parameters are drawn first (`sample_photo_params`) and then applied (`apply_photo`), so the
recorded dict alone re-makes the photo. The homography maps flat page pixels to photo pixels
(exact unless the paper is curled, crumpled or kinked at a fold, or the lens distorts: then it maps
the page's plane and `paper_displacement` / `lens_distort` give the rest; the mask always follows
the ink exactly).
"""

from __future__ import annotations

import cv2
import numpy as np

from .backgrounds import KINDS, make_background
from .effects import (
    blur,
    crumple_shading,
    fold_shading,
    jpeg,
    marked_copy,
    multiply,
    sample_stains,
    sensor_noise,
    smooth_field,
)
from .mask import warp_lines_mask

DEFAULT_PHOTO_SIZE = (3264, 2448)  # 8 MP, 4:3


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.deg2rad([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def page_homography(page_wh: tuple[int, int], size: tuple[int, int], p: dict) -> np.ndarray:
    """3x3 homography flat page px -> photo px for the pose in `p` (tilt, roll, fill, centre, fov)."""
    pw, ph = page_wh
    W, H = size
    f = (W / 2) / np.tan(np.deg2rad(p["fov_deg"] / 2))
    a = np.deg2rad(p["tilt_dir_deg"])
    R = _rotation(p["tilt_deg"] * np.cos(a), p["tilt_deg"] * np.sin(a), p["roll_deg"])
    corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64)
    P = np.c_[corners - [pw / 2, ph / 2], np.zeros(4)] @ R.T
    z = (
        f * max(pw / W, ph / H) / p["fill"]
    )  # camera distance at which the page roughly fills `fill`
    proj = f * P[:, :2] / (z + P[:, 2:3])
    # scale and place so the page's bounding box fills `fill` of the frame, centred at `centre`
    span = proj.max(0) - proj.min(0)
    s = p["fill"] * min(W / span[0], H / span[1])
    proj = (proj - (proj.max(0) + proj.min(0)) / 2) * s
    proj += np.array(
        [
            W / 2 + p["centre_dx"] * (W - span[0] * s) / 2,
            H / 2 + p["centre_dy"] * (H - span[1] * s) / 2,
        ]
    )
    return cv2.getPerspectiveTransform(corners.astype(np.float32), proj.astype(np.float32)).astype(
        np.float64
    )


def _white_balance(u: np.ndarray) -> list[float]:
    """BGR gains left after a camera's auto white balance: warm (tungsten) to cool (daylight,
    fluorescent) along the colour-temperature axis plus a slight green/magenta tint."""
    temp, tint = 2 * u[0] - 1, (u[1] - 0.5) * 0.05
    return [float(1 - 0.07 * temp), float(1 + tint), float(1 + 0.07 * temp)]


def sample_photo_params(
    rng: np.random.Generator,
    size: tuple[int, int],
    page_size: tuple[int, int],
    page_px_per_mm: float,
) -> dict:
    """Draw every photo parameter (seeded). Lengths in photo px unless named _mm."""
    W, H = size
    k = W / 3264
    p = {
        "size": [int(W), int(H)],
        "fov_deg": float(rng.uniform(55, 75)),
        "tilt_deg": float(min(40.0, abs(rng.normal(0, 16)))),
        "tilt_dir_deg": float(rng.uniform(0, 360)),
        "roll_deg": float(rng.normal(0, 6)) + (180.0 if rng.random() < 0.03 else 0.0),
        "fill": float(rng.uniform(0.6, 0.95)),
        "centre_dx": float(rng.uniform(-0.8, 0.8)),
        "centre_dy": float(rng.uniform(-0.8, 0.8)),
        "background": str(rng.choice(KINDS)),
        "background_seed": int(rng.integers(0, 2**31 - 1)),
        "curl_px": float(rng.uniform(0, 25) * k) if rng.random() < 0.4 else 0.0,
        "curl_axis": str(rng.choice(["x", "y"])),
        "crumple": float(rng.uniform(0.05, 0.25)) if rng.random() < 0.25 else 0.0,
        "crumple_seed": int(rng.integers(0, 2**31 - 1)),
        "folds": [],
        "notes": int(rng.integers(1, 4)) if rng.random() < 0.3 else 0,
        "notes_seed": int(rng.integers(0, 2**31 - 1)),
        "stains": [],
        "light_gradient": float(rng.uniform(0.0, 0.45)),
        "light_angle_deg": float(rng.uniform(0, 360)),
        "vignette": float(rng.uniform(0.0, 0.35)),
        "shadow": float(rng.uniform(0.2, 0.55)) if rng.random() < 0.45 else 0.0,
        "shadow_seed": int(rng.integers(0, 2**31 - 1)),
        "glare": [],
        "white_balance": _white_balance(rng.uniform(0, 1, 3)),
        "exposure": float(rng.uniform(0.8, 1.12)),
        "defocus_sigma": float(rng.uniform(0.0, 2.2) * k) if rng.random() < 0.7 else 0.0,
        "motion_len": float(rng.uniform(1.5, 9.0) * k) if rng.random() < 0.3 else 0.0,
        "motion_angle_deg": float(rng.uniform(0, 180)),
        "noise_sigma": float(rng.uniform(1.0, 6.0)),
        "shot_noise": float(rng.uniform(0.0, 0.5)),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
        "jpeg_quality": int(rng.integers(60, 96)),
    }
    for _ in range(int(rng.choice([0, 0, 1, 1, 2]))):  # folds across the page (flat page coords)
        p["folds"].append(
            {
                "pos": float(rng.uniform(0.25, 0.75)),
                "axis": str(rng.choice(["x", "y"])),
                "skew_deg": float(rng.normal(0, 3)),
                "width_mm": float(rng.uniform(1, 4)),
                "depth": float(rng.uniform(0.05, 0.25)),
                "light": float(rng.uniform(0.03, 0.15)),
            }
        )
    if rng.random() < 0.15:
        p["stains"] = sample_stains(rng, 1, *page_size, page_px_per_mm)
    for _ in range(
        int(rng.integers(0, 4)) if rng.random() < 0.5 else 0
    ):  # specular glare spots (photo coords)
        p["glare"].append(
            {
                "x": float(rng.uniform(0.1, 0.9) * W),
                "y": float(rng.uniform(0.1, 0.9) * H),
                "r": float(rng.uniform(0.03, 0.15) * W),
                "strength": float(rng.uniform(0.3, 1.0)),
            }
        )
    p["grayscale"] = bool(rng.random() < 0.05)
    # geometry of non-flat paper: crumpled pages wave, folded ones kink at the fold
    p["waves"] = (
        [
            {
                "amp_px": float(rng.uniform(0.5, 3.0) * page_px_per_mm / 7.87),
                "fx": float(rng.uniform(0.5, 3)),
                "fy": float(rng.uniform(0.5, 3)),
                "phase": float(rng.uniform(0, 2 * np.pi)),
                "dir_deg": float(rng.uniform(0, 360)),
            }
            for _ in range(int(rng.integers(2, 5)))
        ]
        if p["crumple"]
        else []
    )
    for f in p["folds"]:
        f["kink"] = float(rng.uniform(0.0, 0.008)) if rng.random() < 0.6 else 0.0
    p["fingers"] = (
        [
            {
                "edge": int(rng.integers(0, 4)),
                "pos": float(rng.uniform(0.1, 0.9)),
                "length_mm": float(rng.uniform(25, 45)),
                "width_mm": float(rng.uniform(15, 22)),
                "angle_deg": float(rng.normal(0, 20)),
                "skin_bgr": [
                    float(v)
                    for v in rng.choice(
                        [
                            (120, 150, 200),
                            (90, 120, 170),
                            (60, 85, 130),
                            (40, 60, 95),
                            (140, 170, 225),
                        ]
                    )
                ],
            }
            for _ in range(int(rng.integers(1, 3)))
        ]
        if rng.random() < 0.12
        else []
    )
    p["low_light"] = (
        float(rng.uniform(0.45, 0.8)) if rng.random() < 0.1 else 1.0
    )  # dim room: darker, noisier
    # phones correct their lens; wide-angle webcams and CSI modules often show barrel distortion
    p["lens_k1"] = float(rng.uniform(-0.15, 0.03)) if rng.random() < 0.2 else 0.0
    return p


def _draw_fingers(
    img: np.ndarray, mask: np.ndarray, fingers: list[dict], H: np.ndarray, page_wh, px_per_mm: float
) -> None:
    """Thumbs/fingers holding the page: skin-coloured, softly shaded, casting a shadow; occluded trace
    pixels are removed from `mask`. In place."""
    from .mask import apply_homography, local_scale

    pw, ph = page_wh
    Himg, Wimg = img.shape[:2]
    for f in fingers:
        edge, t = f["edge"], f["pos"]
        at = [(t * pw, 0.0), (pw, t * ph), (t * pw, ph), (0.0, t * ph)][edge]
        inward = [(0, 1), (-1, 0), (0, -1), (1, 0)][edge]
        c_flat = np.array(
            [
                at[0] + inward[0] * 0.25 * f["length_mm"] * px_per_mm,
                at[1] + inward[1] * 0.25 * f["length_mm"] * px_per_mm,
            ]
        )
        c, tip = apply_homography(H, np.array([c_flat, c_flat + np.array(inward) * px_per_mm * 10]))
        ang = np.degrees(np.arctan2(tip[1] - c[1], tip[0] - c[0])) + f["angle_deg"]
        s = local_scale(H, c_flat) * px_per_mm
        axes = (int(f["length_mm"] * s / 2), int(f["width_mm"] * s / 2))
        r = int(max(axes) * 1.6) + 2
        x0, y0, x1, y1 = (
            max(0, int(c[0]) - r),
            max(0, int(c[1]) - r),
            min(Wimg, int(c[0]) + r),
            min(Himg, int(c[1]) + r),
        )
        if x1 <= x0 or y1 <= y0:
            continue
        fm = np.zeros((y1 - y0, x1 - x0), np.uint8)
        # the finger enters from outside the page: an ellipse plus the part of it extending outwards
        cc = (int(c[0]) - x0, int(c[1]) - y0)
        cv2.ellipse(fm, cc, axes, ang, 0, 360, 255, -1, cv2.LINE_AA)
        back = (
            int(cc[0] - np.cos(np.radians(ang)) * axes[0] * 1.5),
            int(cc[1] - np.sin(np.radians(ang)) * axes[0] * 1.5),
        )
        cv2.line(fm, cc, back, 255, 2 * axes[1], cv2.LINE_AA)
        soft = max(3, axes[1] // 3) | 1
        shadow = cv2.GaussianBlur(
            np.roll(fm, (axes[1] // 3, axes[1] // 4), (0, 1)), (soft * 2 + 1, soft * 2 + 1), 0
        )
        alpha = cv2.GaussianBlur(fm, (3, 3), 0).astype(np.float32)[..., None] / 255
        shade = 1 - 0.35 * shadow.astype(np.float32)[..., None] / 255
        # a rounded look: lighter in the middle, darker at the rim
        dist = cv2.distanceTransform((fm > 127).astype(np.uint8), cv2.DIST_L2, 3)
        rim = np.clip(dist / max(1.0, axes[1] * 0.6), 0, 1)[..., None]
        skin = np.array(f["skin_bgr"], np.float32)[None, None] * (0.75 + 0.3 * rim)
        roi = img[y0:y1, x0:x1].astype(np.float32) * shade
        img[y0:y1, x0:x1] = np.clip(roi * (1 - alpha) + skin * alpha, 0, 255).astype(np.uint8)
        mask[y0:y1, x0:x1][fm > 127] = 0


def _fold_list(folds: list[dict], w: int, h: int, px_per_mm: float) -> list[dict]:
    out = []
    for f in folds:
        if f["axis"] == "x":  # vertical fold line at x = pos*w
            pt, ang = [f["pos"] * w, h / 2], 90 + f["skew_deg"]
        else:
            pt, ang = [w / 2, f["pos"] * h], f["skew_deg"]
        out.append(
            {
                "p": pt,
                "angle_deg": ang,
                "width_px": f["width_mm"] * px_per_mm,
                "depth": f["depth"],
                "light": f["light"],
                "kink": f.get("kink", 0.0),
            }
        )
    return out


def lens_distort(X: np.ndarray, size: tuple[int, int], k1: float) -> np.ndarray:
    """Radial lens distortion of image points (k1 < 0: barrel, as on wide-angle webcams)."""
    c = np.array([size[0] / 2, size[1] / 2])
    R2 = (size[0] ** 2 + size[1] ** 2) / 4
    d = X - c
    return c + d * (1 + k1 * (d**2).sum(1, keepdims=True) / R2)


def lens_undistort(Xd: np.ndarray, size: tuple[int, int], k1: float) -> np.ndarray:
    """Inverse of `lens_distort` (fixed-point iteration)."""
    c = np.array([size[0] / 2, size[1] / 2])
    R2 = (size[0] ** 2 + size[1] ** 2) / 4
    dd = Xd - c
    d = dd.copy()
    for _ in range(12):
        d = dd / (1 + k1 * (d**2).sum(1, keepdims=True) / R2)
    return c + d


def needs_remap(p: dict) -> bool:
    """Whether the photo is more than a homography of the flat page (bent paper or lens distortion)."""
    return has_displacement(p) or bool(p.get("lens_k1"))


def has_displacement(p: dict) -> bool:
    """Whether the paper is not flat (curl, crumple waves or fold kinks): then the homography is the
    page's plane and the image also carries the paper's small smooth displacement."""
    return bool(p["curl_px"] or p.get("waves") or any(f.get("kink") for f in p["folds"]))


def paper_displacement(
    q: np.ndarray, page_wh: tuple[int, int], p: dict, px_per_mm: float
) -> np.ndarray:
    """D(q) in flat page px: the photo pixel whose plane point is q shows page point q + D(q).
    Sum of a bow (curl), smooth waves (crumpled paper) and kinks along folds."""
    pw, ph = page_wh
    d = np.zeros_like(q, dtype=np.float64)
    if p["curl_px"]:  # page edges lift: rows (axis x) or columns (axis y) bow
        if p["curl_axis"] == "x":
            d[:, 1] += p["curl_px"] * ((2 * q[:, 0] / pw - 1) ** 2 - 0.33)
        else:
            d[:, 0] += p["curl_px"] * ((2 * q[:, 1] / ph - 1) ** 2 - 0.33)
    for wv in p.get("waves") or []:
        ph_ = 2 * np.pi * (q[:, 0] * wv["fx"] / pw + q[:, 1] * wv["fy"] / ph) + wv["phase"]
        a = np.deg2rad(wv["dir_deg"])
        d += wv["amp_px"] * np.sin(ph_)[:, None] * np.array([np.cos(a), np.sin(a)])[None, :]
    for f in _fold_list(p["folds"], pw, ph, px_per_mm):
        if f["kink"]:
            a = np.deg2rad(f["angle_deg"])
            nrm = np.array([-np.sin(a), np.cos(a)])
            dist = (q[:, 0] - f["p"][0]) * nrm[0] + (q[:, 1] - f["p"][1]) * nrm[1]
            d += f["kink"] * np.maximum(dist, 0)[:, None] * nrm[None, :]
    return d


def _paper_forward(
    pts: np.ndarray, page_wh: tuple[int, int], p: dict, px_per_mm: float
) -> np.ndarray:
    """Plane points q with q + D(q) = pts (fixed-point iteration; D is smooth and small)."""
    q = pts.astype(np.float64).copy()
    for _ in range(8):
        q = pts - paper_displacement(q, page_wh, p, px_per_mm)
    return q


def _paper_maps(
    H: np.ndarray,
    size: tuple[int, int],
    page_wh: tuple[int, int],
    p: dict,
    px_per_mm: float,
    step: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """remap() maps photo px -> flat page px: inverse homography plus the paper's displacement,
    computed on a coarse grid and resized (both are smooth)."""
    W, Hh = size
    # knots at (i + 0.5) * step - 0.5: resize() by `step` then reproduces any linear function exactly
    kx = (np.arange(-(-W // step)) + 0.5) * step - 0.5
    ky = (np.arange(-(-Hh // step)) + 0.5) * step - 0.5
    gx, gy = np.meshgrid(kx, ky)
    if p.get("lens_k1"):  # output pixels are distorted: undo the lens first
        und = lens_undistort(np.c_[gx.ravel(), gy.ravel()], size, p["lens_k1"])
        gx, gy = und[:, 0].reshape(gx.shape), und[:, 1].reshape(gy.shape)
    Hi = np.linalg.inv(H)
    den = Hi[2, 0] * gx + Hi[2, 1] * gy + Hi[2, 2]
    u = (Hi[0, 0] * gx + Hi[0, 1] * gy + Hi[0, 2]) / den
    v = (Hi[1, 0] * gx + Hi[1, 1] * gy + Hi[1, 2]) / den
    d = paper_displacement(np.c_[u.ravel(), v.ravel()], page_wh, p, px_per_mm)
    u = u + d[:, 0].reshape(u.shape)
    v = v + d[:, 1].reshape(v.shape)
    shape = (len(kx) * step, len(ky) * step)
    mx = cv2.resize(u.astype(np.float32), shape, interpolation=cv2.INTER_LINEAR)
    my = cv2.resize(v.astype(np.float32), shape, interpolation=cv2.INTER_LINEAR)
    return mx[:Hh, :W], my[:Hh, :W]


def _lighting(p: dict, size: tuple[int, int]) -> np.ndarray:
    """Multiplicative light field (h x w x 3 float32): gradient, vignette, cast shadow, white balance."""
    W, H = size
    s = 8
    sw, sh = W // s + 1, H // s + 1
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xx, yy = xx / sw - 0.5, yy / sh - 0.5
    a = np.deg2rad(p["light_angle_deg"])
    g = 1 + p["light_gradient"] * (xx * np.cos(a) + yy * np.sin(a))
    g *= 1 - p["vignette"] * (xx**2 + yy**2) * 2
    if p["shadow"] > 0:  # a soft-edged shadow of a hand/phone: a random blob from one side
        rng = np.random.default_rng(p["shadow_seed"])
        blob = smooth_field(rng, sw, sh, cells=3)
        side = rng.integers(0, 4)
        ramp = [xx, -xx, yy, -yy][side] + 0.5
        shade = np.clip((blob * 0.6 + ramp * 0.8 - 0.75) * 6, 0, 1)
        shade = cv2.GaussianBlur(shade, (0, 0), 3)
        g *= 1 - p["shadow"] * shade
    g *= p["exposure"] * p.get("low_light", 1.0)
    g = g.astype(np.float32)[..., None] * np.array(p["white_balance"], np.float32)[None, None]
    return cv2.resize(g, (W, H), interpolation=cv2.INTER_LINEAR)


def apply_photo(
    page: np.ndarray, lines: list[np.ndarray], thickness: int, p: dict, page_px_per_mm: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make the photo described by `p` from the flat `page` and its trace polylines (flat px, drawn
    with `thickness`); return (photo, trace mask in photo px, homography)."""
    W, Hh = p["size"]
    h, w = page.shape[:2]
    page = marked_copy(page, p, page_px_per_mm)
    shade = np.ones((h, w), np.float32)
    if p["folds"]:
        shade *= fold_shading(w, h, _fold_list(p["folds"], w, h, page_px_per_mm))
    if p["crumple"]:
        shade *= crumple_shading(np.random.default_rng(p["crumple_seed"]), w, h, p["crumple"])
    if p["folds"] or p["crumple"]:
        page = multiply(page, shade)
    H = page_homography((w, h), (W, Hh), p)
    bg = make_background(p["background"], W, Hh, p["background_seed"])
    ones = np.full((h, w), 255, np.uint8)
    if needs_remap(p):
        mx, my = _paper_maps(H, (W, Hh), (w, h), p, page_px_per_mm)
        warped = cv2.remap(page, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.remap(ones, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        wmask = warp_lines_mask(
            (Hh, W),
            lines,
            thickness,
            H,
            pre=lambda q: _paper_forward(q, (w, h), p, page_px_per_mm),
            post=(lambda X: lens_distort(X, (W, Hh), p["lens_k1"])) if p.get("lens_k1") else None,
        )
    else:
        warped = cv2.warpPerspective(
            page, H, (W, Hh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        alpha = cv2.warpPerspective(
            ones, H, (W, Hh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        wmask = warp_lines_mask((Hh, W), lines, thickness, H)
    a = alpha.astype(np.float32) * np.float32(1 / 255)
    img = cv2.blendLinear(warped, bg, a, 1 - a)
    if p.get("fingers"):
        _draw_fingers(img, wmask, p["fingers"], H, (w, h), page_px_per_mm)
    f = cv2.multiply(img, _lighting(p, (W, Hh)), dtype=cv2.CV_32F)
    for gl in p["glare"]:  # specular highlights: additive, saturating
        r = gl["r"]
        x0, y0 = int(max(0, gl["x"] - 3 * r)), int(max(0, gl["y"] - 3 * r))
        x1, y1 = int(min(W, gl["x"] + 3 * r)), int(min(Hh, gl["y"] + 3 * r))
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        g = (
            np.exp(-0.5 * (((xx - gl["x"]) ** 2 + ((yy - gl["y"]) * 1.6) ** 2) / r**2))
            * gl["strength"]
            * 255
        )
        f[y0:y1, x0:x1] += g[..., None]
    img = cv2.convertScaleAbs(f)  # f >= 0: saturating float -> uint8
    if p["glare"]:  # ink washed out by glare is no longer visible: not trace pixels of this image
        wmask[cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) >= 240] = 0
    img = blur(img, p["defocus_sigma"], p["motion_len"], p["motion_angle_deg"])
    ll = p.get("low_light", 1.0)  # the camera raises its gain in a dim room: more noise
    img = sensor_noise(img, p["noise_seed"], p["noise_sigma"] / ll, p["shot_noise"] / np.sqrt(ll))
    if p.get("grayscale"):  # a black-and-white camera mode: grey noise too
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    img = jpeg(img, p["jpeg_quality"])
    return img, wmask, H


def photo_distort(
    page: np.ndarray,
    lines: list[np.ndarray],
    rng: np.random.Generator,
    meta: dict,
    *,
    size: tuple[int, int] | None = None,
    overrides: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """render_page's photo mode: sample (then override) parameters, apply, return the record."""
    size = tuple(size or DEFAULT_PHOTO_SIZE)
    p = sample_photo_params(rng, size, (page.shape[1], page.shape[0]), meta["px_per_mm"])
    overrides = {
        k: v
        for k, v in (overrides or {}).items()
        if k not in ("mode", "homography", "image_size", "homography_exact")
    }  # derived, not parameters
    unknown = set(overrides) - set(p)
    if unknown:
        raise ValueError(f"unknown photo parameter(s): {', '.join(sorted(unknown))}")
    p.update(overrides)
    img, wmask, H = apply_photo(page, lines, meta["trace_thickness_px"], p, meta["px_per_mm"])
    dist = {
        "mode": "photo",
        **p,
        "homography": (H / H[2, 2]).tolist(),
        "image_size": [int(size[0]), int(size[1])],
        "homography_exact": not needs_remap(p),
    }
    return img, wmask, dist
