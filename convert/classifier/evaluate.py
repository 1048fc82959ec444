"""Fold-10 evaluation of the classifier, float (torch ensemble) and int8 (the installed TFLite):
macro AUC / macro F1 on the original signals (full and 3x4+1-masked) and on signals digitized
from synthesized photos (WFDB records `<dir>/<ecg_id>.hea` written by evaluate-digitizer)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from . import CLASSES
from .metrics import multilabel_report

log = logging.getLogger(__name__)


def digitized_inputs(
    digitized_dir: str | Path, ecg_ids: list[int]
) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
    """Model inputs (N, 24, 1000) and beat features (N, F) for the records of `ecg_ids` found in
    `digitized_dir` (as `<id>.hea`, `<id:05d>.hea` or `<id>_hr.hea`), the ids found, problems met,
    and per record the signal-quality reason the device would refuse it for (or None)."""
    from edge.errors import EcgEdgeError
    from edge.interpret import measure
    from edge.interpret.beat_features import beat_features
    from edge.interpret.features import model_input
    from edge.interpret.interpretation import quality_reason
    from edge.interpret.signals import validate
    from edge.wfdb_io import read_record

    d = Path(digitized_dir)
    xs, fs_, found, problems, reasons = [], [], [], [], []
    for i in ecg_ids:
        cands = [d / f"{i}.hea", d / f"{i:05d}.hea", d / f"{i:05d}_hr.hea"]
        path = next((c for c in cands if c.is_file()), None)
        if path is None:
            continue
        try:
            rec = read_record(path)
            p = validate(rec.signals, rec.fs, rec.lead_names)
            xs.append(model_input(p.signals, p.fs).T)
            meas = measure(p)
            fs_.append(beat_features(meas))
            reasons.append(quality_reason(meas))
            found.append(i)
        except EcgEdgeError as exc:
            problems.append(f"{path.name}: {exc}")
    x = np.stack(xs).astype(np.float32) if xs else np.zeros((0, 24, 1000), np.float32)
    f = np.stack(fs_) if fs_ else np.zeros((0, 0))
    return x, f, found, problems, reasons


def _confidence(d: Path, ecg_id: int) -> float:
    """The digitizer's confidence for a saved record (`<id>.json`), NaN when unknown."""
    import json

    try:
        return float(json.loads((d / f"{ecg_id}.json").read_text())["confidence"])
    except (OSError, ValueError, KeyError, TypeError):
        return float("nan")


def interpret_latency(data_dir, metas, models_dir=None) -> dict:
    """Median and max wall time of `edge.interpret.interpret` (measurements + int8 model) per record."""
    import time

    from edge.interpret import interpret
    from edge.wfdb_io import read_record

    times = []
    for m in metas:
        rec = read_record(Path(data_dir) / m.path_hr)
        t0 = time.perf_counter()
        interpret(rec.signals, rec.fs, rec.lead_names, models_dir=models_dir)
        times.append(time.perf_counter() - t0)
    return {
        "n": len(times),
        "median": float(np.median(times)) if times else None,
        "max": float(np.max(times)) if times else None,
    }


def evaluate(
    data_dir: str | Path,
    run_dir: str | Path | None,
    *,
    models_dir: str | Path | None = None,
    digitized_dir: str | Path | None = None,
    fold: int = 10,
) -> dict:
    """{view: {'float': report, 'int8': report}} on `fold`; views 'full', '3x4+1', 'digitized'."""
    from edge.interpret.interpretation import feature_model
    from edge.models import find_entry, load_model

    from .augment import apply_mask
    from .data import load_meta, load_signals100
    from .export import tflite_predict
    from .train import encode_batch, layout_mask, load_ensemble, predict

    metas = [m for m in load_meta(data_dir) if m.labels.sum() > 0 and m.fold == fold]
    x = load_signals100(
        data_dir, metas, cache=None if run_dir is None else Path(run_dir) / f"fold{fold}_100.npz"
    )
    y = np.stack([m.labels for m in metas])
    from .fusion import feature_probs, features_for, fuse

    mask = layout_mask("3x4+1", x.shape[1])
    raw = {"full": list(x), "3x4+1": [apply_mask(r, mask) for r in x]}
    views = {k: (encode_batch(v), features_for(v, 100.0), y) for k, v in raw.items()}
    out: dict = {"n_records": len(metas), "fold": fold}
    if digitized_dir is not None:
        xd, fd, ids, problems, reasons = digitized_inputs(digitized_dir, [m.ecg_id for m in metas])
        by_id = {m.ecg_id: m.labels for m in metas}
        if ids:
            views["digitized"] = (xd, fd, np.stack([by_id[i] for i in ids]))
            # what the device would classify: digitization confidence (from <id>.json) high enough
            # and beats consistent enough (edge.interpret.interpretation.quality_reason)
            from edge.interpret.interpretation import MIN_CONFIDENCE

            conf = np.array([_confidence(Path(digitized_dir), i) for i in ids])
            ok = ~(conf < MIN_CONFIDENCE) & np.array([r is None for r in reasons])
            out["digitized_accepted_n"] = int(ok.sum())
            if ok.sum() >= 10 and not ok.all():
                views["digitized_accepted"] = (xd[ok], fd[ok], views["digitized"][2][ok])
        out["digitized_found"] = len(ids)
        out["digitized_problems"] = problems
    out["interpret_latency_s"] = interpret_latency(data_dir, metas[:10], models_dir)
    int8 = load_model("classifier", models_dir, num_threads=2)
    entry = find_entry("classifier", models_dir)
    thr8 = entry.thresholds
    thr8 = [float(thr8[c]) for c in CLASSES] if isinstance(thr8, dict) else list(thr8)
    fm = feature_model(entry, models_dir)
    w = float((entry.raw.get("fusion") or {}).get("cnn_weight", 1.0))
    ens = None
    if run_dir is not None and (Path(run_dir) / "ensemble.pt").is_file():
        ens, _ = load_ensemble(run_dir)
    for name, (xv, fv, yv) in views.items():
        p8 = tflite_predict(int8, xv)
        pf = feature_probs(fv, fm) if fm else None
        res = {"int8": multilabel_report(yv, fuse(p8, pf, w) if fm else p8, thr8, CLASSES)}
        if ens is not None:
            pfl = predict(ens, xv)
            res["float"] = multilabel_report(yv, fuse(pfl, pf, w) if fm else pfl, thr8, CLASSES)
        if fm:
            res["int8_cnn_only"] = multilabel_report(yv, p8, thr8, CLASSES)
            res["features_only"] = multilabel_report(yv, pf, thr8, CLASSES)
        out[name] = res
    out["hybrid"] = bool(fm)
    out["cnn_weight"] = w if fm else 1.0
    return out
