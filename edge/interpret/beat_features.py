"""Hand-made features of the median beats (per-lead Q/R/S amplitudes, ST level, T amplitude, plus
the global intervals and axis) for a small logistic model that complements the CNN: with ~350
training records, explicit QRS width, axis, Q waves and voltages are easier to learn from."""

from __future__ import annotations

import numpy as np

from edge.layouts import LEAD_NAMES

from .measure import Measurements

PER_LEAD = ("q_mv", "r_mv", "s_mv", "st_mv", "t_mv")
GLOBAL = ("qrs_ms", "pr_ms", "qtc_ms", "hr_bpm", "axis_cos", "axis_sin", "p_present", "rr_cv",
          "limb_max_mv", "prec_max_mv")
NAMES = tuple(f"{lead}_{f}" for lead in LEAD_NAMES for f in PER_LEAD) + GLOBAL


def beat_features(m: Measurements) -> np.ndarray:
    """(len(NAMES),) float features; NaN where not measurable (the model imputes)."""
    out = np.full(len(NAMES), np.nan)
    mb, d = m.beats, m.delineation
    if mb is not None and d is not None and d.qrs_on is not None and d.baseline is not None:
        fs = mb.fs
        ms = lambda v: int(round(v * fs / 1000.0))  # noqa: E731
        on, off = d.qrs_on, d.qrs_off
        for k in range(12):
            x = mb.beats[:, k] - d.baseline[k]
            seg = x[on:off + 1]
            if not np.isfinite(seg).all() or len(seg) < 3:
                continue
            q = x[on:min(off, on + ms(40)) + 1]
            st_i = min(len(x) - 1, off + ms(60))
            t_seg = x[off + ms(80):min(len(x), mb.r + ms(450))]
            vals = [min(0.0, float(np.min(q))), float(np.max(seg)), min(0.0, float(np.min(seg))),
                    float(x[st_i]) if np.isfinite(x[st_i]) else np.nan,
                    float(t_seg[np.nanargmax(np.abs(t_seg))]) if len(t_seg) and np.isfinite(t_seg).any() else np.nan]
            out[k * len(PER_LEAD):(k + 1) * len(PER_LEAD)] = vals
    g = len(LEAD_NAMES) * len(PER_LEAD)
    ax = None if m.axis_deg is None else np.radians(m.axis_deg)
    glob = [m.qrs_ms, m.pr_ms, m.qtc_bazett_ms, m.heart_rate_bpm,
            None if ax is None else np.cos(ax), None if ax is None else np.sin(ax),
            None if m.p_present is None else float(m.p_present), m.rr_cv,
            m.limb_qrs_max_mv, m.precordial_qrs_max_mv]
    out[g:] = [np.nan if v is None else float(v) for v in glob]
    return out


def feature_probabilities(f: np.ndarray, model: dict) -> np.ndarray:
    """Per-class probabilities of the logistic feature model stored in the manifest entry."""
    mean = np.asarray(model["mean"], dtype=np.float64)
    std = np.asarray(model["std"], dtype=np.float64)
    z = np.where(np.isfinite(f), (f - mean) / std, 0.0)  # missing -> the training mean
    z = np.clip(z, -5, 5)
    w = np.asarray(model["weights"], dtype=np.float64)   # (n_classes, n_features)
    b = np.asarray(model["bias"], dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(w @ z + b)))


def fuse(p_cnn: np.ndarray, p_feat: np.ndarray, cnn_weight: float) -> np.ndarray:
    """The hybrid classifier's output: weighted average of the CNN's and the feature model's logits."""
    a = np.clip(np.asarray(p_cnn, dtype=np.float64), 1e-4, 1 - 1e-4)
    b = np.clip(np.asarray(p_feat, dtype=np.float64), 1e-4, 1 - 1e-4)
    z = cnn_weight * np.log(a / (1 - a)) + (1.0 - cnn_weight) * np.log(b / (1 - b))
    return 1.0 / (1.0 + np.exp(-z))
