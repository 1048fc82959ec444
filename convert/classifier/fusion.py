"""The feature half of the hybrid classifier: a ridge-regularised logistic model on median-beat
features (edge.interpret.beat_features) blended with gradient-boosted trees (.boost), fitted on
folds 1-8 (clean, 3x4+1-masked and digitization-corrupted copies), and its fusion with the CNN in
logit space. The L2 strength and the tree weight are chosen by leave-one-fold-out over folds 1-8,
the CNN weight on fold 9."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from . import CLASSES

log = logging.getLogger(__name__)


def features_for(signals: list[np.ndarray] | np.ndarray, fs: float) -> np.ndarray:
    """(N, F) beat features of (n, 12) mV signals at `fs` (NaN row where the record is unusable)."""
    from edge.errors import BadInputError
    from edge.interpret import measure, validate
    from edge.interpret.beat_features import NAMES, beat_features
    from edge.layouts import LEAD_NAMES

    out = []
    for x in signals:
        try:
            out.append(beat_features(measure(validate(x, fs, list(LEAD_NAMES)))))
        except BadInputError:
            out.append(np.full(len(NAMES), np.nan))
    return np.stack(out)


def fit_logistic(
    X: np.ndarray, Y: np.ndarray, lam: float, iters: int = 3000, lr: float = 0.05
) -> dict:
    """Class-weighted L2 logistic regression per class by gradient descent on standardised X."""
    mean = np.nanmean(X, axis=0)
    std = np.nanstd(X, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
    Z = np.clip(np.where(np.isfinite(X), (X - mean) / std, 0.0), -5, 5)
    W = np.zeros((Y.shape[1], Z.shape[1]))
    b = np.zeros(Y.shape[1])
    pos = np.clip(Y.mean(axis=0), 1e-3, 1)
    cw = np.clip((1 - pos) / pos, 1.0, 6.0)
    wts = np.where(Y > 0, cw, 1.0)
    for _ in range(iters):
        P = 1.0 / (1.0 + np.exp(-(Z @ W.T + b)))
        G = (P - Y) * wts
        W -= lr * (G.T @ Z / len(Z) + lam * W)
        b -= lr * G.mean(axis=0)
    return {
        "mean": mean.tolist(),
        "std": std.tolist(),
        "weights": W.tolist(),
        "bias": b.tolist(),
        "lambda": lam,
    }


def fuse(p_cnn: np.ndarray, p_feat: np.ndarray, cnn_weight: float) -> np.ndarray:
    """Weighted average of the two models' logits (the device's own `edge...beat_features.fuse`)."""
    from edge.interpret.beat_features import fuse as _fuse

    return _fuse(p_cnn, p_feat, cnn_weight)


def feature_probs(F: np.ndarray, model: dict) -> np.ndarray:
    from edge.interpret.beat_features import feature_probabilities

    return np.stack([feature_probabilities(f, model) for f in F])


def train_features(
    x_tr: np.ndarray, cache: Path | None = None, seed: int = 5
) -> tuple[np.ndarray, int]:
    """Features of the training records: clean, 3x4+1-masked and two corrupted copies (100 Hz)."""
    from edge.interpret.beat_features import NAMES

    from .augment import apply_mask, augment, layout_mask

    if cache is not None and cache.is_file():
        z = np.load(cache)
        if int(z["n"]) == len(x_tr) and z["F"].shape[1] == len(
            NAMES
        ):  # else: features changed since
            return z["F"], 4
    rng = np.random.default_rng(seed)
    m = layout_mask("3x4+1", x_tr.shape[1])
    views = [
        list(x_tr),
        [apply_mask(r, m) for r in x_tr],
        [augment(r, rng) for r in x_tr],
        [augment(r, rng, layout="3x4+1") for r in x_tr],
    ]
    F = np.concatenate([features_for(v, 100.0) for v in views])
    if cache is not None:
        np.savez(cache, F=F, n=len(x_tr))
    return F, len(views)


def cv_feature_model(
    F_tr: np.ndarray,
    Y_tr: np.ndarray,
    groups: np.ndarray,
    lams=(0.3, 1.0, 3.0),
    boost_weights=(0.0, 0.3, 0.5, 0.7),
) -> tuple[dict, dict[str, float]]:
    """The feature model's L2 strength and its blend weight with boosted trees, by leave-one-fold-out
    over the training folds (`groups`: each row's PTB-XL fold; pooled out-of-fold macro AUC), then
    both halves refitted on all of F_tr. ~350 records make one tuning fold's choice noisy; every
    training record held out once is steadier. Returns (model dict, scores)."""
    from edge.interpret.beat_features import boosted_probabilities
    from edge.interpret.beat_features import fuse as _fuse

    from .boost import fit_boosted
    from .metrics import multilabel_report

    def auc(P):
        return round(
            float(multilabel_report(Y_tr, P, [0.5] * len(CLASSES), CLASSES)["macro_auc"]), 4
        )

    scores, oof = {}, {}
    for lam in lams:
        P = np.zeros_like(Y_tr, dtype=np.float64)
        for g in np.unique(groups):
            te = groups == g
            P[te] = feature_probs(F_tr[te], fit_logistic(F_tr[~te], Y_tr[~te], lam))
        oof[lam], scores[f"lambda={lam}"] = P, auc(P)
        log.info(
            "feature model lambda %g: leave-one-fold-out macro AUC %.4f",
            lam,
            scores[f"lambda={lam}"],
        )
    lam = max(lams, key=lambda v: scores[f"lambda={v}"])
    bw = 0.0
    if any(w > 0 for w in boost_weights):
        PB = np.zeros_like(Y_tr, dtype=np.float64)
        for g in np.unique(groups):
            te = groups == g
            trees = fit_boosted(F_tr[~te], Y_tr[~te])
            PB[te] = np.stack([boosted_probabilities(f, trees) for f in F_tr[te]])
        for w in boost_weights:
            scores[f"lambda={lam},boosted_weight={w}"] = auc(_fuse(PB, oof[lam], w))
            log.info(
                "boosted-tree weight %.1f: leave-one-fold-out macro AUC %.4f",
                w,
                scores[f"lambda={lam},boosted_weight={w}"],
            )
        bw = max(boost_weights, key=lambda w: scores[f"lambda={lam},boosted_weight={w}"])
    model = fit_logistic(F_tr, Y_tr, lam)
    if bw > 0:
        model.update(boosted=fit_boosted(F_tr, Y_tr), boosted_weight=bw)
    return model, scores


def choose(
    model: dict,
    F9: dict[str, np.ndarray],
    P9_cnn: dict[str, np.ndarray],
    y9: np.ndarray | dict[str, np.ndarray],
    weights=(1.0, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2),
) -> tuple[float, dict]:
    """The CNN weight of the hybrid with the best mean fold-9 macro AUC over the views, for the
    feature model from `cv_feature_model`. Returns (cnn weight, scores)."""
    from .metrics import multilabel_report

    best, scores = None, {}
    pf = {k: feature_probs(F9[k], model) for k in F9}
    for w in weights:
        aucs = [
            multilabel_report(
                y9[k] if isinstance(y9, dict) else y9,
                fuse(P9_cnn[k], pf[k], w),
                [0.5] * len(CLASSES),
                CLASSES,
            )["macro_auc"]
            for k in F9
        ]
        score = float(np.mean(aucs))
        scores[f"cnn_weight={w}"] = round(score, 4)
        log.info("cnn weight %.1f: fold-9 mean macro AUC %.4f", w, score)
        if best is None or score > best[0]:
            best = (score, w)
    return best[1], scores
