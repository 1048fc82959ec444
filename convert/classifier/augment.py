"""Training-time corruption that imitates what the device sees: printed page layouts (each lead
only in its column's time window, plus rhythm strips) and digitization error (gain/offset error,
baseline wander, smoothing, noise, time-scale error and jitter, lost leads and lost stretches)."""

from __future__ import annotations

import numpy as np

from edge.layouts import LAYOUTS, LEAD_NAMES

# how often each page layout is drawn during training ("full" = the whole 10 s of every lead)
LAYOUT_WEIGHTS = {
    "3x4+1": 0.40,
    "3x4": 0.08,
    "3x4+3": 0.12,
    "6x2": 0.10,
    "12x1": 0.05,
    "full": 0.25,
}


def layout_mask(
    layout: str,
    n: int = 1000,
    shift: int = 0,
    rng: np.random.Generator | None = None,
    edge_jitter: int = 0,
) -> np.ndarray:
    """(n, 12) bool: where each lead is printed on a page of `layout` covering `n` samples."""
    if layout in ("full", "12x1"):
        return np.ones((n, 12), bool)
    lay = LAYOUTS[layout]
    m = np.zeros((n, 12), bool)
    ncol = lay.n_cols
    for row in lay.rows:
        for c, lead in enumerate(row):
            a = c * n // ncol
            b = (c + 1) * n // ncol
            if rng is not None and edge_jitter:
                a = a + int(rng.integers(-edge_jitter, edge_jitter + 1)) if c > 0 else a
                b = b + int(rng.integers(-edge_jitter, edge_jitter + 1)) if c < ncol - 1 else b
            m[max(0, a + shift) : max(0, min(n, b + shift)), LEAD_NAMES.index(lead)] = True
    for lead in lay.rhythm:
        m[:, LEAD_NAMES.index(lead)] = True
    return m


def apply_mask(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy of `x` with NaN where `mask` is False."""
    return np.where(mask, x, np.nan)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    k = np.ones(width) / width
    return np.stack(
        [
            np.convolve(np.pad(x[:, j], (width, width), mode="edge"), k, mode="same")[width:-width]
            for j in range(x.shape[1])
        ],
        axis=1,
    )


def augment(
    x: np.ndarray, rng: np.random.Generator, fs: float = 100.0, layout: str | None = None
) -> np.ndarray:
    """(n, 12) clean mV -> a corrupted copy with NaN where the page/digitizer would not give samples."""
    n = x.shape[0]
    x = x.astype(np.float64).copy()
    t = np.arange(n) / fs
    # time-scale error (paper speed / pixel pitch misread) and a global shift
    if rng.random() < 0.5:
        s = rng.uniform(0.97, 1.03)
        x = np.stack([np.interp(np.clip(t * s, 0, t[-1]), t, x[:, j]) for j in range(12)], axis=1)
    sh = int(rng.integers(-40, 41))  # the digitizer's time origin can be off by a few hundred ms
    x = np.roll(x, sh, axis=0)
    # amplitude: page gain error and per-lead error
    x *= rng.uniform(0.75, 1.15) * rng.uniform(
        0.85, 1.15, size=12
    )  # digitizers tend to lose amplitude
    # smoothing (thick pen, blur) and noise (pixel quantization, grid remnants)
    if rng.random() < 0.5:
        x = _smooth(x, int(rng.integers(2, 4)))
    x += rng.normal(0, rng.uniform(0.0, 0.08), size=x.shape)
    if rng.random() < 0.3:  # spiky errors where the trace was confused with text/grid
        k = rng.random(x.shape) < rng.uniform(0.0, 0.01)
        x[k] += rng.normal(0, 0.5, size=int(k.sum()))
    # baseline wander and per-lead offset
    for j in range(12):
        x[:, j] += rng.uniform(-0.5, 0.5) + rng.uniform(0, 0.3) * np.sin(
            2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi)
        )
    # page layout, with column edges a little off
    if layout is None:
        names = list(LAYOUT_WEIGHTS)
        p = np.array([LAYOUT_WEIGHTS[k] for k in names])
        layout = names[int(rng.choice(len(names), p=p / p.sum()))]
    mask = layout_mask(layout, n, rng=rng, edge_jitter=8)
    # per-segment time jitter: shift each lead a few samples
    for j in range(12):
        d = int(rng.integers(-2, 3))
        if d:
            x[:, j] = np.roll(x[:, j], d)
    # lost leads and lost stretches
    if rng.random() < 0.2:
        for j in rng.choice(12, size=int(rng.integers(1, 4)), replace=False):
            mask[:, j] = False
    if rng.random() < 0.2:
        j = int(rng.integers(12))
        a = int(rng.integers(0, n))
        mask[a : a + int(rng.integers(20, 100)), j] = False
    if not mask.any():
        mask[:, LEAD_NAMES.index("II")] = True
    return apply_mask(x, mask)
