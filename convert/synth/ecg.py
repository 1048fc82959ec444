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


KINDS = ("normal", "af", "pvc", "rbbb", "lbbb", "st_elevation", "t_inversion")


def _apply_finding(
    kind: str, waves: list, qrs_w: float, r_amp: float, qt: float, x: np.random.Generator
) -> list:
    """Change the beat's waves (offset, sigma, direction, amplitude) for a conduction/ST-T finding."""
    p, q, r, s, t = waves
    if kind == "af":
        p = (p[0], p[1], p[2], 0.0)
    elif kind == "rbbb":  # wide terminal rightward/anterior forces: rsR' in V1, wide S in I and V6
        s = (s[0], 1.6 * s[1], s[2], s[3])
        return [
            p,
            q,
            r,
            s,
            (3.2 * qrs_w, 1.6 * qrs_w, _unit([-0.6, 0.1, 0.8]), x.uniform(0.4, 0.7) * r_amp),
            (t[0] + 0.03, t[1], t[2], t[3]),
        ]
    elif kind == "lbbb":  # no septal q, broad notched R leftward/posterior, discordant T
        d = _unit([0.8, 0.2, -0.65])
        return [
            p,
            (q[0], q[1], q[2], 0.0),
            (0.0, 1.25 * qrs_w, d, 0.8 * r_amp),
            (1.9 * qrs_w, 1.2 * qrs_w, d, 0.6 * r_amp),
            (t[0] + 0.04, t[1], -d, x.uniform(0.15, 0.3) * r_amp),
        ]
    elif kind == "st_elevation":  # current of injury: a dome from the J point into the T wave
        d = _unit([0.1, -0.1, 1.0]) if x.random() < 0.6 else _unit([0.0, 1.0, 0.1])
        return [p, q, r, s, t, (0.45 * qt, 0.07, d, x.uniform(0.15, 0.35))]
    elif kind == "t_inversion":
        t = (t[0], t[1] * 1.1, -t[2], t[3] * x.uniform(0.7, 1.0))
    return [p, q, r, s, t]


def _insert_pvcs(
    beats: list, waves: list, rr: float, r_amp: float, x: np.random.Generator
) -> tuple[list, list]:
    """Make some beats premature ventricular ones (wide, bizarre, discordant T, compensatory pause)."""
    d = _unit(x.normal(0, 1, 3) + [0.3, 0.0, 0.0])
    pvc = [
        (0.0, x.uniform(0.035, 0.05), d, x.uniform(1.2, 1.8) * r_amp),
        (0.3, 0.06, -d, x.uniform(0.3, 0.5) * r_amp),
    ]
    out_b, out_w = [], []
    k = 2 + int(x.integers(0, 3))
    for i, b in enumerate(beats):
        if i % k == k - 1 or (i > 0 and x.random() < 0.1):
            out_b.append(b - 0.35 * rr)
            out_w.append(pvc)
        else:
            out_b.append(b)
            out_w.append(waves)
    return out_b, out_w


def synthetic_ecg(
    seconds: float = 10.0,
    fs: float = 500.0,
    seed: int = 0,
    *,
    hr_bpm: float | None = None,
    axis_deg: float | None = None,
    r_amplitude_mv: float | None = None,
    noise_mv: float = 0.004,
    wander_mv: float | None = None,
    kind: str = "normal",
) -> np.ndarray:
    """Return (round(seconds*fs), 12) float64 mV in LEAD_NAMES order; every choice varies with `seed`.

    `kind` adds a finding: normal, af (irregular, no P, fibrillation waves), pvc (premature wide
    beats), rbbb, lbbb, st_elevation, t_inversion, or random (one of these drawn from `seed`)."""
    if kind == "random":
        kind = KINDS[int(np.random.default_rng([seed, 7]).integers(len(KINDS)))]
    if kind not in KINDS:
        raise ValueError(f"unknown ECG kind {kind!r}; choose one of {', '.join(KINDS)} or random")
    x = np.random.default_rng([seed, 8])  # draws for findings; `rng` stays as for a normal ECG
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    hr = float(hr_bpm if hr_bpm is not None else rng.uniform(50, 110))
    axis = np.deg2rad(axis_deg if axis_deg is not None else rng.uniform(-20, 85))
    r_amp = float(r_amplitude_mv if r_amplitude_mv is not None else rng.uniform(0.8, 1.8))
    rr = 60.0 / hr
    pr = rng.uniform(0.13, 0.20)
    qrs_w = rng.uniform(0.018, 0.026)  # sigma of the R wave, s
    qt = np.clip(0.40 * np.sqrt(rr) + rng.uniform(-0.03, 0.03), 0.30, 0.50)
    horiz = rng.uniform(-0.55, -0.25)  # posterior component of the main QRS vector
    # wave: (offset from R peak in s, sigma in s, direction (x left, y inferior, z anterior), amplitude)
    waves = [
        (
            -pr,
            rng.uniform(0.018, 0.028),
            _unit([np.cos(np.deg2rad(55)), np.sin(np.deg2rad(55)), 0.2]),
            rng.uniform(0.10, 0.22),
        ),
        (-1.6 * qrs_w, 0.6 * qrs_w, _unit([-0.6, 0.2, 0.8]), 0.18 * r_amp),
        (0.0, qrs_w, _unit([np.cos(axis), np.sin(axis), horiz]), r_amp),
        (1.7 * qrs_w, 0.7 * qrs_w, _unit([-0.35, -0.35, -0.85]), rng.uniform(0.3, 0.6) * r_amp),
        (
            qt - 0.09,
            rng.uniform(0.035, 0.05),
            _unit([np.cos(axis - 0.3), np.sin(axis - 0.3), 0.15]),
            rng.uniform(0.18, 0.35) * r_amp,
        ),
    ]
    # Beat times with mild sinus arrhythmia; first beat anywhere in the first RR interval.
    beats, tb = [], rng.uniform(0.1, rr)
    phase = rng.uniform(0, 2 * np.pi)
    while tb < seconds + 1.0:
        beats.append(tb)
        tb += rr * (1 + 0.04 * np.sin(2 * np.pi * 0.25 * tb + phase) + rng.normal(0, 0.01))
    waves = _apply_finding(kind, waves, qrs_w, r_amp, qt, x)
    beat_waves = [waves] * len(beats)
    if kind == "af":
        beats, tb = [], x.uniform(0.05, 0.5)
        while tb < seconds + 1.0:
            beats.append(tb)
            tb += rr * x.uniform(0.55, 1.45)
        beat_waves = [waves] * len(beats)
    elif kind == "pvc":
        beats, beat_waves = _insert_pvcs(beats, waves, rr, r_amp, x)
    vec = np.zeros((n, 3))
    if kind == "af":  # fibrillation waves, 4-9 Hz, mostly seen in V1 and the inferior leads
        fw = np.zeros(n)
        for _ in range(3):
            fw += np.sin(2 * np.pi * x.uniform(4, 9) * t + x.uniform(0, 2 * np.pi)) * x.uniform(
                0.01, 0.035
            )
        vec += fw[:, None] * _unit([0.2, 0.6, 0.8])[None, :]
    for b, bw in zip(beats, beat_waves):
        for off, sig, d, amp in bw:
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
