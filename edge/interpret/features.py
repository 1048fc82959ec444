"""The classifier's input representation, shared by training (convert.classifier) and the device:
12 leads at 100 Hz over 10 s (1000 samples), baseline removed per printed segment, in mV clipped
to +-CLIP_MV, zero where a lead is absent, plus one presence channel per lead (1 = sample present).
Layout: NWC float32 (1, 1000, 24) - channels 0-11 signals in `LEAD_NAMES` order, 12-23 presence."""

from __future__ import annotations

import numpy as np

from .signals import highpass, resample

FS = 100.0
N_SAMPLES = 1000
N_LEADS = 12
CLIP_MV = 4.0
INPUT_SPEC = {
    "layout": "NWC",
    "shape": [1, N_SAMPLES, 2 * N_LEADS],
    "fs_hz": FS,
    "seconds": N_SAMPLES / FS,
    "channels": "0-11: I, II, III, aVR, aVL, aVF, V1-V6 in mV (0.5 Hz high-pass per segment, clipped to "
    "+-4 mV, 0 where absent); 12-23: presence mask of the same leads (1 present, 0 absent)",
}


def fix_length(sig: np.ndarray, n: int = N_SAMPLES) -> np.ndarray:
    """First `n` samples of (m, k) `sig`, NaN-padded at the end when shorter."""
    if sig.shape[0] >= n:
        return sig[:n]
    pad = np.full((n - sig.shape[0], sig.shape[1]), np.nan)
    return np.concatenate([sig, pad], axis=0)


def encode(sig100: np.ndarray) -> np.ndarray:
    """(1000, 12) mV at 100 Hz with NaN gaps -> (1000, 24) float32 model input (high-pass per run)."""
    x = highpass(fix_length(sig100), FS)
    present = np.isfinite(x)
    x = np.where(present, np.clip(x, -CLIP_MV, CLIP_MV), 0.0)
    return np.concatenate([x, present.astype(np.float64)], axis=1).astype(np.float32)


def model_input(signals12: np.ndarray, fs: float) -> np.ndarray:
    """Canonical (n, 12) mV signals at `fs` -> (1000, 24) float32 classifier input."""
    return encode(fix_length(resample(signals12, fs, FS)))
