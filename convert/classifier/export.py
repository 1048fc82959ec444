"""Export the trained ensemble to ONNX, quantize it to full-integer int8 TFLite with the
toolchain's `convert.quantize`, re-choose thresholds on fold 9 with the int8 model itself, and
install it as `models/classifier_int8.tflite` with its manifest entry and model card."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from . import CLASSES

log = logging.getLogger(__name__)

MODEL_FILE = "classifier_int8.tflite"
FEATURES_FILE = "classifier_features.json"
FEATURES_NAME = "classifier_features"
CARD_FILE = "classifier.md"
INPUT_NAME = "ecg"
OUTPUT_NAME = "probabilities"


def export_onnx(ens, path: str | Path) -> Path:
    """Ensemble -> ONNX (opset 17, legacy exporter), input `ecg` (1, 24, 1000) NCW."""
    import torch

    from edge.interpret.features import N_LEADS, N_SAMPLES

    path = Path(path)
    ens.eval()
    dummy = torch.zeros(1, 2 * N_LEADS, N_SAMPLES)
    torch.onnx.export(
        ens,
        dummy,
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=17,
        dynamo=False,
    )
    return path


def tflite_predict(model, x_ncw: np.ndarray) -> np.ndarray:
    """Probabilities from a loaded TFLiteModel for NCW inputs (fed as NWC, one at a time)."""
    x = x_ncw.transpose(0, 2, 1)
    return np.concatenate(
        [
            np.asarray(model.run(x[i : i + 1]), dtype=np.float64).reshape(1, -1)
            for i in range(len(x))
        ]
    )


def export_and_install(
    run_dir: str | Path,
    *,
    models_dir: str | Path | None = None,
    data_dir: str | Path = "../shared/data/ptbxl500",
    digitized_tune: str | Path | None = None,
) -> dict:
    """ONNX + int8 TFLite in `run_dir`, fusion weight and thresholds from fold 9 with the int8
    model, then install. `digitized_tune`: fold-9 records digitized from synthesized photos
    (`<ecg_id>.hea`), added as a tuning view so thresholds suit what the device really reads."""
    from convert.manifest import make_entry, upsert_entry
    from convert.quantize import quantize
    from edge.interpret.features import INPUT_SPEC
    from edge.models import default_models_dir, load_tflite

    from .data import load_meta, load_signals100
    from .metrics import best_threshold, multilabel_report
    from .train import TRAIN_FOLDS, TUNE_FOLD, encode_batch, load_ensemble, predict, raw_views

    run = Path(run_dir)
    ens, info = load_ensemble(run)
    onnx_path = export_onnx(ens, run / "classifier.onnx")
    res = quantize(onnx_path, run / "calib_nwc.npy", run / MODEL_FILE, keep_float=True)
    log.info("quantized in %.0f s", res.seconds)
    int8 = load_tflite(res.tflite_path, num_threads=2)
    metas = [m for m in load_meta(data_dir) if m.labels.sum() > 0]
    x = load_signals100(data_dir, metas, cache=run / "signals100.npz")
    y = np.stack([m.labels for m in metas])
    folds = np.array([m.fold for m in metas])
    tu = folds == TUNE_FOLD
    tr = np.isin(folds, TRAIN_FOLDS)
    raw9 = raw_views(x[tu])
    views = {k: encode_batch(list(v)) for k, v in raw9.items()}
    p_float = {k: predict(ens, v) for k, v in views.items()}
    p_int8 = {k: tflite_predict(int8, v) for k, v in views.items()}
    parity = {k: float(np.abs(p_float[k] - p_int8[k]).max()) for k in views}
    # the feature half of the hybrid, and the fusion weight, chosen on fold 9 with the int8 CNN
    from edge.interpret.beat_features import NAMES

    from .fusion import choose, cv_feature_model, feature_probs, features_for, fuse, train_features

    F_tr, n_views = train_features(x[tr], cache=run / "features_train.npz")
    F9 = {k: features_for(list(v), 100.0) for k, v in raw9.items()}
    y9 = {k: y[tu] for k in views}
    n_dig = 0
    if digitized_tune is not None:
        from .evaluate import digitized_inputs

        ids9 = [m.ecg_id for m, t in zip(metas, tu) if t]
        xd, fd, found, _, _ = digitized_inputs(digitized_tune, ids9)
        if len(found) >= 10:
            lab = {m.ecg_id: m.labels for m in metas}
            views["digitized"], F9["digitized"] = xd, fd
            y9["digitized"] = np.stack([lab[i] for i in found])
            p_float["digitized"] = predict(ens, xd)
            p_int8["digitized"] = tflite_predict(int8, xd)
            n_dig = len(found)
    Y_tr = np.concatenate([y[tr]] * n_views)
    fmodel, cv_scores = cv_feature_model(F_tr, Y_tr, np.concatenate([folds[tr]] * n_views))
    w, scores = choose(fmodel, F9, p_int8, y9)
    fused8 = {k: fuse(p_int8[k], feature_probs(F9[k], fmodel), w) for k in views}
    fusedf = {k: fuse(p_float[k], feature_probs(F9[k], fmodel), w) for k in views}
    pooled = np.concatenate(list(fused8.values()))
    pooled_y = np.concatenate([y9[k] for k in fused8])
    thr = [best_threshold(pooled_y[:, k], pooled[:, k]) for k in range(len(CLASSES))]
    fold9 = {f"{k}_int8": multilabel_report(y9[k], fused8[k], thr, CLASSES) for k in views}
    fold9.update({f"{k}_float": multilabel_report(y9[k], fusedf[k], thr, CLASSES) for k in views})
    fold9.update(
        {f"{k}_int8_cnn_only": multilabel_report(y9[k], p_int8[k], thr, CLASSES) for k in views}
    )
    mdir = Path(models_dir) if models_dir is not None else default_models_dir()
    mdir.mkdir(parents=True, exist_ok=True)
    dst = mdir / MODEL_FILE
    tmp = mdir / f".{MODEL_FILE}.tmp"
    shutil.copyfile(res.tflite_path, tmp)
    tmp.replace(dst)
    metrics = {
        "fold9_tuning": {
            k: {"macro_auc": round(v["macro_auc"], 4), "macro_f1": round(v["macro_f1"], 4)}
            for k, v in fold9.items()
        },
        "int8_vs_float_max_abs_diff_fold9": parity,
    }
    # the feature model's parameters (~300 KB of trees) in their own sha256-checked file
    from edge.atomic import write_file_atomic

    fpath = mdir / FEATURES_FILE
    write_file_atomic(
        fpath, json.dumps({**fmodel, "names": list(NAMES)}, separators=(",", ":")).encode()
    )
    upsert_entry(
        mdir / "manifest.json",
        make_entry(
            FEATURES_NAME,
            fpath,
            task="feature-model",
            models_dir=mdir,
            labels=list(CLASSES),
            card=CARD_FILE,
            training_data={"train_folds": list(TRAIN_FOLDS), "n_train": info["n_train"]},
            extra={
                "about": "parameters of the classifier's median-beat feature model (see the classifier entry)"
            },
        ),
    )
    entry = make_entry(
        "classifier",
        dst,
        task="classification",
        models_dir=mdir,
        input_layouts=["NWC"],
        output_layouts=["NC"],
        labels=list(CLASSES),
        thresholds={c: round(float(t), 4) for c, t in zip(CLASSES, thr)},
        metrics=metrics,
        training_data={
            "dataset": "PTB-XL 1.0.3 subset (500 records), Wagner et al., Sci Data 7, 154 (2020), CC BY 4.0",
            "train_folds": list(range(1, 9)),
            "threshold_fold": TUNE_FOLD,
            "test_fold": 10,
            "n_train": info["n_train"],
            "n_tune": info["n_tune"],
            "n_tune_digitized": n_dig,
            "labels": "diagnostic superclasses from scp_codes via scp_statements.diagnostic_class, "
            "any likelihood (as PTB-XL's benchmark); records without a superclass excluded",
        },
        card=CARD_FILE,
        extra={
            "input_spec": INPUT_SPEC,
            "output_spec": {
                "shape": [1, len(CLASSES)],
                "meaning": "per-class probability (mean of the ensemble members' sigmoids); a class is reported when "
                "probability >= its threshold",
            },
            "members": info["config"]["members"],
            "preprocessing": "edge.interpret.features.model_input(signals12, fs)",
            "feature_model": {
                "model": FEATURES_NAME,
                "names": list(NAMES),
                "lambda": fmodel["lambda"],
                "boosted_weight": fmodel.get("boosted_weight", 0.0),
                "n_trees": len(fmodel["boosted"]["classes"][0]["roots"])
                if fmodel.get("boosted")
                else 0,
                "about": "logistic model on edge.interpret.beat_features, blended with boosted trees "
                "(parameters in the model file of entry 'model'); fused with the CNN by "
                "edge.interpret.beat_features.fuse",
            },
            "fusion": {
                "cnn_weight": w,
                "fold9_mean_macro_auc": scores,
                "feature_model_cv_macro_auc": cv_scores,
            },
        },
    )
    upsert_entry(mdir / "manifest.json", entry)
    from .card import write_card

    write_card(mdir, entry)
    (run / "export.json").write_text(
        json.dumps({"entry": entry, "fold9": fold9}, indent=2, default=float)
    )
    return entry
