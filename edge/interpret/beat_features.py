"""Hand-made features of the median beats (per-lead Q/R/S amplitudes, Q-wave width, J-point and ST
level, T extremes, plus the global intervals, QRS and T axes and voltage indices) for a small
logistic model that complements the CNN: with ~350 training records, explicit QRS width, axes,
Q waves, ST/T shape and voltages are easier to learn from than from raw samples."""

from __future__ import annotations

import numpy as np

from edge.layouts import LEAD_NAMES

from .measure import Measurements

PER_LEAD = ("q_mv", "r_mv", "s_mv", "st_mv", "t_mv", "q_ms", "j_mv", "t_max_mv", "t_min_mv")
GLOBAL = (
    "qrs_ms",
    "pr_ms",
    "qtc_ms",
    "hr_bpm",
    "axis_cos",
    "axis_sin",
    "p_present",
    "rr_cv",
    "limb_max_mv",
    "prec_max_mv",
    "t_axis_cos",
    "t_axis_sin",
    "qrs_t_cos",
    "sokolow_mv",
    "cornell_mv",
    "p_mv",
    "qt_ms",
    "rr_successive",
)
NAMES = tuple(f"{lead}_{f}" for lead in LEAD_NAMES for f in PER_LEAD) + GLOBAL

Q_MV = 0.03  # an initial deflection below -Q_MV within 20 ms of QRS onset is a Q wave


def lead_features(x: np.ndarray, on: int, off: int, r: int, fs: float) -> list[float]:
    """PER_LEAD values of one baseline-corrected median beat (NaN where not covered)."""
    ms = lambda v: int(round(v * fs / 1000.0))  # noqa: E731
    seg = x[on : off + 1]
    if not np.isfinite(seg).all() or len(seg) < 3:
        return [np.nan] * len(PER_LEAD)
    q = x[on : min(off, on + ms(40)) + 1]
    st_i = min(len(x) - 1, off + ms(60))
    t_seg = x[off + ms(80) : min(len(x), r + ms(450))]
    t_ok = len(t_seg) and np.isfinite(t_seg).any()
    # Q-wave width: from onset while the initial negative deflection lasts (a QS complex: all of it)
    k = 0
    if seg[: max(1, ms(20))].min() < -Q_MV:
        while k < len(seg) and seg[k] <= Q_MV / 2:
            k += 1
    return [
        min(0.0, float(np.min(q))),
        float(np.max(seg)),
        min(0.0, float(np.min(seg))),
        float(x[st_i]) if np.isfinite(x[st_i]) else np.nan,
        float(t_seg[np.nanargmax(np.abs(t_seg))]) if t_ok else np.nan,
        k * 1000.0 / fs,
        float(x[off]) if np.isfinite(x[off]) else np.nan,
        float(np.nanmax(t_seg)) if t_ok else np.nan,
        float(np.nanmin(t_seg)) if t_ok else np.nan,
    ]


def _global_features(m: Measurements, per: np.ndarray) -> list[float | None]:
    """GLOBAL values from the measurements and the per-lead table `per` (12, len(PER_LEAD))."""
    lead = {n: i for i, n in enumerate(LEAD_NAMES)}
    col = {n: i for i, n in enumerate(PER_LEAD)}
    ax = None if m.axis_deg is None else np.radians(m.axis_deg)
    # frontal T axis from the net T deflection in I and aVF, and its angle to the QRS axis
    t_i = per[lead["I"], col["t_max_mv"]] + per[lead["I"], col["t_min_mv"]]
    t_f = per[lead["aVF"], col["t_max_mv"]] + per[lead["aVF"], col["t_min_mv"]]
    t_ax = (
        float(np.arctan2(t_f, t_i))
        if np.isfinite([t_i, t_f]).all() and abs(t_i) + abs(t_f) > 1e-3
        else None
    )
    r5 = per[[lead["V5"], lead["V6"]], col["r_mv"]]
    sokolow = float(np.nanmax(r5) - per[lead["V1"], col["s_mv"]]) if np.isfinite(r5).any() else None
    cornell = float(per[lead["aVL"], col["r_mv"]] - per[lead["V3"], col["s_mv"]])
    return [
        m.qrs_ms,
        m.pr_ms,
        m.qtc_bazett_ms,
        m.heart_rate_bpm,
        None if ax is None else np.cos(ax),
        None if ax is None else np.sin(ax),
        None if m.p_present is None else float(m.p_present),
        m.rr_cv,
        m.limb_qrs_max_mv,
        m.precordial_qrs_max_mv,
        None if t_ax is None else np.cos(t_ax),
        None if t_ax is None else np.sin(t_ax),
        None if t_ax is None or ax is None else np.cos(t_ax - ax),
        sokolow,
        cornell,
        m.p_amplitude_mv,
        m.qt_ms,
        m.rr_successive,
    ]


def beat_features(m: Measurements) -> np.ndarray:
    """(len(NAMES),) float features; NaN where not measurable (the model imputes)."""
    per = np.full((len(LEAD_NAMES), len(PER_LEAD)), np.nan)
    mb, d = m.beats, m.delineation
    if (
        mb is not None
        and d is not None
        and d.qrs_on is not None
        and d.qrs_off is not None
        and d.baseline is not None
    ):
        for k in range(len(LEAD_NAMES)):
            per[k] = lead_features(mb.beats[:, k] - d.baseline[k], d.qrs_on, d.qrs_off, mb.r, mb.fs)
    glob = _global_features(m, per)
    return np.concatenate([per.ravel(), [np.nan if v is None else float(v) for v in glob]])


def feature_probabilities(f: np.ndarray, model: dict) -> np.ndarray:
    """Per-class probabilities of the feature model stored in the manifest entry: the logistic
    model, blended in logit space with boosted trees where the entry carries them."""
    mean = np.asarray(model["mean"], dtype=np.float64)
    std = np.asarray(model["std"], dtype=np.float64)
    z = np.where(np.isfinite(f), (f - mean) / std, 0.0)  # missing -> the training mean
    z = np.clip(z, -5, 5)
    w = np.asarray(model["weights"], dtype=np.float64)  # (n_classes, n_features)
    b = np.asarray(model["bias"], dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-(w @ z + b)))
    if model.get("boosted"):
        p = fuse(
            boosted_probabilities(f, model["boosted"]), p, float(model.get("boosted_weight", 0.5))
        )
    return p


def boosted_probabilities(f: np.ndarray, model: dict) -> np.ndarray:
    """Per-class probabilities of exported boosted trees (convert.classifier.boost): every tree of a
    class walked at once, level by level, from its root to a leaf."""
    x = np.asarray(f, dtype=np.float64)
    x = np.where(np.isfinite(x), x, np.asarray(model["mean"], dtype=np.float64)).astype(np.float32)
    out = []
    for c in model["classes"]:
        feat = np.asarray(c["feature"])
        thr = np.asarray(c["threshold"], dtype=np.float32)
        left, right = np.asarray(c["left"]), np.asarray(c["right"])
        node = np.asarray(c["roots"])
        while True:
            inner = left[node] >= 0
            if not inner.any():
                break
            go_left = x[np.where(inner, feat[node], 0)] <= thr[node]
            node = np.where(inner, np.where(go_left, left[node], right[node]), node)
        raw = float(c["init"]) + float(model["learning_rate"]) * float(
            np.asarray(c["value"])[node].sum()
        )
        out.append(1.0 / (1.0 + np.exp(-raw)))
    return np.asarray(out)


def fuse(p_cnn: np.ndarray, p_feat: np.ndarray, cnn_weight: float) -> np.ndarray:
    """The hybrid classifier's output: weighted average of the CNN's and the feature model's logits."""
    a = np.clip(np.asarray(p_cnn, dtype=np.float64), 1e-4, 1 - 1e-4)
    b = np.clip(np.asarray(p_feat, dtype=np.float64), 1e-4, 1 - 1e-4)
    z = cnn_weight * np.log(a / (1 - a)) + (1.0 - cnn_weight) * np.log(b / (1 - b))
    return 1.0 / (1.0 + np.exp(-z))
