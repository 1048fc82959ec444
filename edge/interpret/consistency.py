"""Self-consistency of the limb leads, a quality check that needs no ground truth.

An ECG machine prints III, aVR, aVL and aVF computed from I and II, so on any faithful reading
Einthoven's law (II = I + III) and Goldberger's (aVR + aVL + aVF = 0) hold wherever those
leads are printed at the same time (a column of a 3x4 page, 6x2, 12x1). Misread traces break
them whatever the printer, pen or camera. With independent per-lead errors at a given SNR the
relative residual is about 10^(-SNR/20), so it also estimates the reading's SNR without truth."""

from __future__ import annotations

import numpy as np

from edge.layouts import LEAD_NAMES

RELATIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "einthoven": (("II", 1.0), ("I", -1.0), ("III", -1.0)),
    "goldberger": (("aVR", 1.0), ("aVL", 1.0), ("aVF", 1.0)),
}
MIN_OVERLAP_S = 0.5  # shortest stretch of simultaneous samples worth judging
# Below this estimated SNR a reading is mostly error (the estimate tracks the true SNR; see
# docs/benchmarks.md for how it was measured).
MIN_READING_SNR_DB = 3.0


def relation_residuals(
    signals: np.ndarray, fs: float, lead_names: tuple[str, ...] | list[str] = LEAD_NAMES
) -> dict[str, float]:
    """Relative RMS residual of each lead relation measurable in `signals` (n, leads) mV.

    Each lead's mean over the shared samples is removed first (a baseline offset is not a
    misreading); the residual is divided by the quadrature sum of the leads' RMS (what the
    residual's RMS would be if the leads were unrelated), so 0 is perfect and ~1 means noise."""
    idx = {n: i for i, n in enumerate(lead_names)}
    out: dict[str, float] = {}
    for name, terms in RELATIONS.items():
        if not all(lead in idx for lead, _ in terms):
            continue
        x = signals[:, [idx[lead] for lead, _ in terms]].astype(np.float64)
        shared = np.all(np.isfinite(x), axis=1)
        if shared.sum() < MIN_OVERLAP_S * fs:
            continue
        x = x[shared] - x[shared].mean(axis=0)
        scale = float(np.sqrt(np.sum(np.mean(x**2, axis=0))))
        if scale < 1e-3:  # flat leads: nothing to judge
            continue
        resid = x @ np.array([c for _, c in terms])
        out[name] = float(np.sqrt(np.mean(resid**2)) / scale)
    return out


def estimated_snr_db(residuals: dict[str, float]) -> float | None:
    """Rough SNR of the reading implied by the mean relative residual (None if none measured)."""
    if not residuals:
        return None
    r = max(float(np.mean(list(residuals.values()))), 1e-5)
    return float(-20.0 * np.log10(r))
