"""A plausible 12-lead ECG made without any data, for tests, fixtures and the bundled example.

A 3-D heart vector is built beat by beat from Gaussian waves (P, septal Q, R, S, T), each pointing
its own way so the vector rotates through the QRS as in a vectorcardiogram; the 12 leads are its
projections. Limb leads are derived from I and II, so Einthoven/Goldberger relations hold exactly:
III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2.
"""

from __future__ import annotations

import numpy as np

from edge.layouts import LEAD_NAMES

# Precordial lead directions in the horizontal plane (degrees from the patient's left towards anterior).
_PRECORDIAL_DEG = {"V1": 115.0, "V2": 95.0, "V3": 72.0, "V4": 50.0, "V5": 25.0, "V6": 0.0}


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / (np.linalg.norm(v) + 1e-12)


def synthetic_ecg(seconds: float = 10.0, fs: float = 500.0, seed: int = 0, *, hr_bpm: float | None = None,
                  axis_deg: float | None = None, r_amplitude_mv: float | None = None,
                  noise_mv: float = 0.004, wander_mv: float | None = None) -> np.ndarray:
    """Return (round(seconds*fs), 12) float64 mV in LEAD_NAMES order; every choice varies with `seed`."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    hr = float(hr_bpm if hr_bpm is not None else rng.uniform(50, 110))
    axis = np.deg2rad(axis_deg if axis_deg is not None else rng.uniform(-20, 85))
    r_amp = float(r_amplitude_mv if r_amplitude_mv is not None else rng.uniform(0.8, 1.8))
    rr = 60.0 / hr
    pr = rng.uniform(0.13, 0.20)
    qrs_w = rng.uniform(0.018, 0.026)          # sigma of the R wave, s
    qt = np.clip(0.40 * np.sqrt(rr) + rng.uniform(-0.03, 0.03), 0.30, 0.50)
    horiz = rng.uniform(-0.55, -0.25)          # posterior component of the main QRS vector
    # wave: (offset from R peak in s, sigma in s, direction (x left, y inferior, z anterior), amplitude)
    waves = [
        (-pr, rng.uniform(0.018, 0.028), _unit([np.cos(np.deg2rad(55)), np.sin(np.deg2rad(55)), 0.2]),
         rng.uniform(0.10, 0.22)),
        (-1.6 * qrs_w, 0.6 * qrs_w, _unit([-0.6, 0.2, 0.8]), 0.18 * r_amp),
        (0.0, qrs_w, _unit([np.cos(axis), np.sin(axis), horiz]), r_amp),
        (1.7 * qrs_w, 0.7 * qrs_w, _unit([-0.35, -0.35, -0.85]), rng.uniform(0.3, 0.6) * r_amp),
        (qt - 0.09, rng.uniform(0.035, 0.05), _unit([np.cos(axis - 0.3), np.sin(axis - 0.3), 0.15]),
         rng.uniform(0.18, 0.35) * r_amp),
    ]
    # Beat times with mild sinus arrhythmia; first beat anywhere in the first RR interval.
    beats, tb = [], rng.uniform(0.1, rr)
    phase = rng.uniform(0, 2 * np.pi)
    while tb < seconds + 1.0:
        beats.append(tb)
        tb += rr * (1 + 0.04 * np.sin(2 * np.pi * 0.25 * tb + phase) + rng.normal(0, 0.01))
    vec = np.zeros((n, 3))
    for b in beats:
        for off, sig, d, amp in waves:
            c = b + off
            lo, hi = np.searchsorted(t, [c - 5 * sig, c + 5 * sig])
            if hi > lo:
                vec[lo:hi] += amp * np.exp(-0.5 * ((t[lo:hi] - c) / sig) ** 2)[:, None] * d[None, :]
    wander = float(wander_mv if wander_mv is not None else rng.uniform(0.0, 0.12))
    for k in range(3):
        f = rng.uniform(0.1, 0.4)
        vec[:, k] += wander * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    if noise_mv > 0:
        vec += rng.normal(0, noise_mv, vec.shape)
    lead_i = vec[:, 0]
    lead_ii = 0.5 * vec[:, 0] + np.sqrt(3) / 2 * vec[:, 1]
    out = np.zeros((n, 12))
    out[:, 0] = lead_i
    out[:, 1] = lead_ii
    out[:, 2] = lead_ii - lead_i
    out[:, 3] = -(lead_i + lead_ii) / 2
    out[:, 4] = lead_i - lead_ii / 2
    out[:, 5] = lead_ii - lead_i / 2
    gain = rng.uniform(1.8, 2.6)
    for j, name in enumerate(LEAD_NAMES[6:], start=6):
        a = np.deg2rad(_PRECORDIAL_DEG[name])
        direction = np.array([np.cos(a), 0.15, np.sin(a)])
        out[:, j] = gain * vec @ direction
        if noise_mv > 0:
            out[:, j] += rng.normal(0, noise_mv * 0.5, n)
    return out
