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


def digitized_inputs(digitized_dir: str | Path, ecg_ids: list[int]) -> tuple[np.ndarray, list[int], list[str]]:
    """Model inputs (N, 24, 1000) for the records of `ecg_ids` found in `digitized_dir`
    (as `<id>.hea`, `<id:05d>.hea` or `<id>_hr.hea`), the ids found, and problems met."""
    from edge.errors import EcgEdgeError
    from edge.interpret.features import model_input
    from edge.interpret.signals import validate
    from edge.wfdb_io import read_record

    d = Path(digitized_dir)
    xs, found, problems = [], [], []
    for i in ecg_ids:
        cands = [d / f"{i}.hea", d / f"{i:05d}.hea", d / f"{i:05d}_hr.hea"]
        path = next((c for c in cands if c.is_file()), None)
        if path is None:
            continue
        try:
            rec = read_record(path)
            p = validate(rec.signals, rec.fs, rec.lead_names)
            xs.append(model_input(p.signals, p.fs).T)
            found.append(i)
        except EcgEdgeError as exc:
            problems.append(f"{path.name}: {exc}")
    x = np.stack(xs).astype(np.float32) if xs else np.zeros((0, 24, 1000), np.float32)
    return x, found, problems


def interpret_latency(data_dir, metas, models_dir=None) -> dict:
    """Median and max wall time of `edge.classify.interpret` (measurements + int8 model) per record."""
    import time

    from edge.classify import interpret
    from edge.wfdb_io import read_record

    times = []
    for m in metas:
        rec = read_record(Path(data_dir) / m.path_hr)
        t0 = time.perf_counter()
        interpret(rec.signals, rec.fs, rec.lead_names, models_dir=models_dir)
        times.append(time.perf_counter() - t0)
    return {"n": len(times), "median": float(np.median(times)) if times else None,
            "max": float(np.max(times)) if times else None}


def evaluate(data_dir: str | Path, run_dir: str | Path | None, *, models_dir: str | Path | None = None,
             digitized_dir: str | Path | None = None, fold: int = 10) -> dict:
    """{view: {'float': report, 'int8': report}} on `fold`; views 'full', '3x4+1', 'digitized'."""
    from edge.models import find_entry, load_model

    from .data import load_meta, load_signals100
    from .export import tflite_predict
    from .train import encode_batch, layout_mask, load_ensemble, predict
    from .augment import apply_mask

    metas = [m for m in load_meta(data_dir) if m.labels.sum() > 0 and m.fold == fold]
    x = load_signals100(data_dir, metas, cache=None if run_dir is None else Path(run_dir) / f"fold{fold}_100.npz")
    y = np.stack([m.labels for m in metas])
    mask = layout_mask("3x4+1", x.shape[1])
    views = {"full": (encode_batch(list(x)), y, [m.ecg_id for m in metas]),
             "3x4+1": (encode_batch([apply_mask(r, mask) for r in x]), y, [m.ecg_id for m in metas])}
    out: dict = {"n_records": len(metas), "fold": fold}
    if digitized_dir is not None:
        xd, ids, problems = digitized_inputs(digitized_dir, [m.ecg_id for m in metas])
        by_id = {m.ecg_id: m.labels for m in metas}
        if ids:
            views["digitized"] = (xd, np.stack([by_id[i] for i in ids]), ids)
        out["digitized_found"] = len(ids)
        out["digitized_problems"] = problems
    int8 = load_model("classifier", models_dir, num_threads=2)
    thr8 = find_entry("classifier", models_dir).thresholds
    thr8 = [float(thr8[c]) for c in CLASSES] if isinstance(thr8, dict) else list(thr8)
    ens, info = (load_ensemble(run_dir) if run_dir is not None and (Path(run_dir) / "ensemble.pt").is_file()
                 else (None, None))
    out["interpret_latency_s"] = interpret_latency(data_dir, metas[:10], models_dir)
    for name, (xv, yv, _) in views.items():
        res = {"int8": multilabel_report(yv, tflite_predict(int8, xv), thr8, CLASSES)}
        if ens is not None:
            res["float"] = multilabel_report(yv, predict(ens, xv), info["thresholds"], CLASSES)
        out[name] = res
    return out
