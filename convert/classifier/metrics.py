"""Multi-label metrics without scikit-learn: per-class ROC AUC (Mann-Whitney), F1 at thresholds,
macro averages, and per-class thresholds that maximise F1."""

from __future__ import annotations

import numpy as np


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC of scores `p` for binary `y` (NaN when only one class is present)."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sp = p[order]
    i = 0
    while i < len(sp):  # average ranks for ties
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def f1(y: np.ndarray, yhat: np.ndarray) -> float:
    y = np.asarray(y).astype(bool)
    yhat = np.asarray(yhat).astype(bool)
    tp = int((y & yhat).sum())
    fp = int((~y & yhat).sum())
    fn = int((y & ~yhat).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising F1 (midpoint between neighbouring scores; 0.5 if no positives)."""
    y = np.asarray(y).astype(bool)
    if y.sum() == 0:
        return 0.5
    cand = np.unique(np.round(p, 4))
    best, thr = -1.0, 0.5
    for t in cand:
        s = f1(y, p >= t)
        if s > best:
            best, thr = s, float(t)
    return float(thr)


def multilabel_report(y: np.ndarray, p: np.ndarray, thresholds, classes) -> dict:
    """{'macro_auc', 'macro_f1', 'per_class': {c: {'auc', 'f1', 'n_pos'}}} over columns of y/p."""
    per = {}
    for k, c in enumerate(classes):
        per[c] = {
            "auc": auc(y[:, k], p[:, k]),
            "f1": f1(y[:, k], p[:, k] >= thresholds[k]),
            "n_pos": int(y[:, k].sum()),
        }
    aucs = [v["auc"] for v in per.values() if np.isfinite(v["auc"])]
    f1s = [v["f1"] for v in per.values() if np.isfinite(v["f1"])]
    return {
        "macro_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "n": int(len(y)),
        "per_class": per,
    }
