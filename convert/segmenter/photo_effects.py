"""Photo effects for segmenter training crops, modelled on what phone photos of office printouts
show after rectification: QRS strokes printed thin and grey (fast strokes are a printer's thinnest
line and blur in the photo), faint toner, a fine pink/red printer grid, folds and crumples
(brightness facets, ridges and a slight local displacement of the page), sharpening halos and
uneven white balance. Each works on one crop (uint8 BGR image, 0/1 trace mask) and keeps the
mask true to where the trace is."""

from __future__ import annotations

import cv2
import numpy as np

STEEP_RUN_PX = 7  # a vertical mask run this long (about 1.2 mm at 6 px/mm) is a fast stroke
PAPER_WINDOW_PX = 7  # a max filter this wide removes a printed trace and leaves the paper


def _smooth(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    f = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC)


def paper_colour(img: np.ndarray) -> np.ndarray:
    """The page without its thin dark marks (a max filter), float32."""
    k = np.ones((PAPER_WINDOW_PX, PAPER_WINDOW_PX), np.uint8)
    return cv2.dilate(img, k).astype(np.float32)


def steep_strokes(mask: np.ndarray) -> np.ndarray:
    """0/1 float32: trace pixels on near-vertical runs (QRS upstrokes and downstrokes)."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (1, STEEP_RUN_PX))
    steep = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, k)
    steep = cv2.dilate(steep, np.ones((3, 3), np.uint8)) & mask.astype(np.uint8)
    return steep.astype(np.float32)


def faint_fast_strokes(
    img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *, everywhere: float = 0.0
) -> np.ndarray:
    """Lighten the ink of fast strokes towards the paper (a thin, grey QRS), and all ink by
    `everywhere` (faint toner); returns float32. The mask is unchanged: the ink is still there."""
    f = img.astype(np.float32)
    paper = paper_colour(img)
    steep = steep_strokes(mask)
    amount = rng.uniform(0.3, 0.75) * cv2.GaussianBlur(steep, (0, 0), 0.7)
    amount = np.maximum(amount, everywhere * mask.astype(np.float32))
    return f + (paper - f) * amount[:, :, None]


def fine_grid(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiply a printer's pink/red grid over the crop: 1 mm lines (faint, sometimes absent)
    and 5 mm lines (stronger), axis-aligned like a rectified page; period 5-7 px."""
    h, w = f.shape[:2]
    period = rng.uniform(5.0, 7.2)
    phase = rng.uniform(0, 5 * period, size=2)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]

    def lines(coord: np.ndarray, step: float, ph: float) -> np.ndarray:
        r = (coord + ph) % step
        d = np.minimum(r, step - r)  # px to the nearest line
        return np.clip(1.0 - d * 1.2, 0, 1)

    minor = np.maximum(lines(yy, period, phase[0]), lines(xx, period, phase[1]))
    major = np.maximum(lines(yy, 5 * period, phase[0]), lines(xx, 5 * period, phase[1]))
    red = np.array([rng.uniform(40, 150), rng.uniform(30, 120), rng.uniform(170, 240)], np.float32)
    pink = 255 - (255 - red) * rng.uniform(0.1, 0.45)
    a_minor = rng.uniform(0.0, 0.8) if rng.random() < 0.7 else 0.0
    a_major = rng.uniform(0.5, 1.0)
    out = f * (1 - (a_minor * minor)[..., None] * (1 - pink / 255))
    return out * (1 - (a_major * major)[..., None] * (1 - red / 255))


def creases(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Folds and crumples: facets of different brightness split by straight creases, each crease a
    soft step with a thin bright or dark ridge."""
    h, w = f.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gain = np.ones((h, w), np.float32)
    for _ in range(int(rng.integers(1, 5))):
        ang = rng.uniform(0, np.pi)
        nx, ny = np.cos(ang), np.sin(ang)
        c = rng.uniform(-0.5, 0.5) * max(h, w)
        d = nx * (xx - w / 2) + ny * (yy - h / 2) - c  # signed distance to the crease
        soft = rng.uniform(0.5, 6.0)
        step = 1.0 / (1.0 + np.exp(np.clip(-d / soft, -30, 30)))
        gain *= 1 + rng.uniform(-0.18, 0.18) * (step - 0.5)
        ridge = np.exp(-(d**2) / (2 * rng.uniform(0.6, 2.0) ** 2))
        gain *= 1 + rng.uniform(-0.15, 0.2) * ridge
    return f * gain[:, :, None]


def displace(
    img: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A crumpled page's slight local displacement: a smooth random field of up to ~3 px applied
    to image and mask alike."""
    h, w = img.shape[:2]
    amp = rng.uniform(0.5, 3.0)
    cells = int(rng.integers(2, 5))
    dx = (_smooth(rng, h, w, cells) - 0.5) * 2 * amp
    dy = (_smooth(rng, h, w, cells) - 0.5) * 2 * amp
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + dx, gy + dy
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    m = cv2.remap(mask.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out, (m >= 0.5).astype(np.uint8)


def sharpen_halo(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A phone's unsharp masking: bright halos beside dark strokes."""
    blur = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.8, 2.5))
    return f + rng.uniform(0.4, 1.5) * (f - blur)


def uneven_white_balance(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-channel gains that drift smoothly over the crop (mixed light sources)."""
    h, w = f.shape[:2]
    amp = rng.uniform(0.05, 0.25)
    gains = [1 + (_smooth(rng, h, w, int(rng.integers(2, 4))) - 0.5) * 2 * amp for _ in range(3)]
    return f * np.stack(gains, axis=2)
