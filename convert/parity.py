"""Float (ONNX, onnxruntime) vs int8 (TFLite, edge.models) parity on held-out data: output
agreement plus the task metric for both, so quantization loss is measured, not assumed.

Segmenters: fold-10 PTB-XL pages rendered by the synthesizer are digitized end to end with each
model as the trace-probability stage and scored with the Challenge SNR (edge.snr). Classifiers:
macro AUC / F1 on held-out inputs. Anything else: output agreement on a given `.npz`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import BadInputError

SEGMENTER_THRESHOLD_DB = 0.3
CLASSIFIER_THRESHOLD_AUC = 0.01


class OnnxModel:
    """onnxruntime session with the TFLiteModel calling convention: channel-last float in/out."""

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        try:
            self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BadInputError(
                "onnx_invalid",
                f"cannot load {path} with onnxruntime ({str(exc)[:160]})",
                "check the file is an ONNX model",
            ) from None
        i = self.sess.get_inputs()[0]
        self.input_name = i.name
        self.cf_shape = [d if isinstance(d, int) else 1 for d in i.shape]
        r = len(self.cf_shape)
        self.input_shape = tuple(
            [self.cf_shape[0], *self.cf_shape[2:], self.cf_shape[1]] if r >= 3 else self.cf_shape
        )
        self.name = Path(path).stem

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.ndim >= 3:
            x = np.moveaxis(x, -1, 1)
        outs = []
        for k in range(len(x)):  # the exported graphs have a fixed batch of 1
            y = self.sess.run(None, {self.input_name: x[k : k + 1]})[0]
            outs.append(np.moveaxis(y, 1, -1) if y.ndim >= 3 else y)
        return np.concatenate(outs).astype(np.float32)


@dataclass
class ParityReport:
    task: str
    n_samples: int
    agreement: dict
    metric: str
    float_value: float | None
    int8_value: float | None
    loss: float | None
    threshold: float | None
    passed: bool
    details: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_text(self) -> str:
        a = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in self.agreement.items()
        )
        lines = [
            f"task: {self.task}; {self.n_samples} held-out samples; {self.seconds:.0f} s",
            f"output agreement (int8 vs float): {a}",
        ]
        if self.metric:
            lines.append(
                f"{self.metric}: float {self.float_value:.3f}, int8 {self.int8_value:.3f}, "
                f"loss {self.loss:+.3f} (allowed {self.threshold})"
            )
        for k, v in self.details.items():
            if isinstance(v, dict) and "float" in v:
                lines.append(
                    f"  {k}: float {v['float']:.3f}  int8 {v['int8']:.3f}  (n={v.get('n', '?')})"
                )
        lines.append("PASS" if self.passed else "FAIL: the int8 model loses more than allowed")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=float)


def output_agreement(a: np.ndarray, b: np.ndarray, threshold: float | None = 0.5) -> dict:
    """max/mean |a - b|, correlation and (for probabilities) decision agreement and IoU at threshold."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    d = np.abs(a - b)
    out = {
        "max_abs_diff": float(d.max()),
        "mean_abs_diff": float(d.mean()),
        "corr": float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 1.0,
    }
    if threshold is not None:
        pa, pb = a >= threshold, b >= threshold
        out["decision_agreement"] = float((pa == pb).mean())
        u = (pa | pb).sum()
        out["iou_at_0.5"] = float((pa & pb).sum() / u) if u else 1.0
    return out


# ---------------------------------------------------------------------------------------------
# segmenter


def heldout_pages(
    data_dir: str | Path,
    n_pages: int,
    *,
    modes=("photo", "scan", "clean"),
    folds=(10,),
    seed: int = 10,
):
    """Yield (family, RenderedPage) for fold-10 records rendered by the synthesizer."""
    from convert.segmenter.data import fold_records, load_signals
    from convert.synth import render_page

    refs = fold_records(data_dir, tuple(folds))
    if not refs:
        raise BadInputError(
            "no_data", f"no records of fold(s) {folds} in {data_dir}", "pass --data with PTB-XL"
        )
    for i in range(n_pages):
        ref = refs[i % len(refs)]
        mode = modes[i % len(modes)]
        sig, fs = load_signals(ref)
        yield (
            mode,
            render_page(
                sig[: int(10 * fs)],
                fs,
                layout="3x4+1",
                mode=mode,
                seed=seed * 1000 + i,
                randomize=True,
            ),
        )


def check_segmenter(
    onnx_path: str | Path,
    tflite_path: str | Path,
    data_dir: str | Path,
    *,
    n_pages: int = 12,
    threshold_db: float = SEGMENTER_THRESHOLD_DB,
    modes=("photo", "scan", "clean"),
    fused: bool = False,
    log=print,
) -> ParityReport:
    """Digitize fold-10 pages with the float and the int8 segmenter and compare SNR and prob maps.
    `fused`: read with the segmenter fused with the classical map, as the device reads photos."""
    from edge.digitize import digitize
    from edge.digitize.traceprob_tflite import make_tflite_trace_probability
    from edge.models import load_tflite
    from edge.snr import mean_snr, record_snr

    t0 = time.time()
    f_model = OnnxModel(onnx_path)
    q_model = load_tflite(tflite_path)
    fn_f = make_tflite_trace_probability(f_model)
    fn_q = make_tflite_trace_probability(q_model)
    if fused:
        from edge.digitize.traceprob import fused_trace_probability

        def fusing(fn):
            return lambda img: fused_trace_probability(img, learned_map=fn(img))
    else:

        def fusing(fn):
            return fn

    snr_f, snr_q, fam = [], [], []
    diffs = []
    for i, (mode, page) in enumerate(heldout_pages(data_dir, n_pages, modes=modes)):
        row = {}
        for tag, fn, acc in (("float", fn_f, snr_f), ("int8", fn_q, snr_q)):
            try:
                res = digitize(page.image, fs=500, trace_model=fusing(fn))
                s = mean_snr(record_snr(page.truth, res.signals, 500, res.lead_names))
                if tag == "float":
                    pf = fn_f(res.rectified)
                    pq = fn_q(res.rectified)
                    diffs.append((pf, pq))
            except BadInputError as exc:
                s = 0.0
                row[f"{tag}_error"] = exc.code
            acc.append(float(s) if np.isfinite(s) else 0.0)
            row[tag] = acc[-1]
        fam.append(mode)
        log(
            f"  page {i + 1}/{n_pages} ({mode}): SNR float {row['float']:.2f} dB, int8 {row['int8']:.2f} dB"
        )
    if diffs:
        agree = output_agreement(
            np.concatenate([d[0].ravel() for d in diffs]),
            np.concatenate([d[1].ravel() for d in diffs]),
        )
    else:
        agree = {}
    details = {}
    for m in sorted(set(fam)):
        idx = [k for k, f in enumerate(fam) if f == m]
        details[m] = {
            "float": float(np.mean([snr_f[k] for k in idx])),
            "int8": float(np.mean([snr_q[k] for k in idx])),
            "n": len(idx),
        }
    f, q = float(np.mean(snr_f)), float(np.mean(snr_q))
    metric = "end-to-end digitization SNR (dB)" + (
        ", fused with the classical map" if fused else ""
    )
    return ParityReport(
        "trace_segmentation",
        n_pages,
        agree,
        metric,
        f,
        q,
        f - q,
        threshold_db,
        (f - q) <= threshold_db,
        details,
        time.time() - t0,
    )


# ---------------------------------------------------------------------------------------------
# classifier and generic


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y).astype(bool)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    from scipy.stats import rankdata  # noqa: F401  (scipy ships with tensorflow's deps)

    r = rankdata(p)
    return float((r[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def macro_auc_f1(y: np.ndarray, p: np.ndarray, thresholds) -> tuple[float, float]:
    aucs, f1s = [], []
    for k in range(y.shape[1]):
        a = _auc(y[:, k], p[:, k])
        if np.isfinite(a):
            aucs.append(a)
        yh = p[:, k] >= thresholds[k]
        yk = y[:, k].astype(bool)
        tp, fp, fn = (yk & yh).sum(), (~yk & yh).sum(), (yk & ~yh).sum()
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(aucs)) if aucs else float("nan"), float(np.mean(f1s)) if f1s else float(
        "nan"
    )


def classifier_heldout(data: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(x channel-first, y multi-hot) from an .npz with `x`, `y`, or fold 10 of a PTB-XL directory
    prepared the way the interpretation engineer's classifier expects (convert.classifier)."""
    p = Path(data)
    if p.is_file():
        with np.load(p) as z:
            if "x" not in z or "y" not in z:
                raise BadInputError(
                    "data_format",
                    f"{p} has no arrays 'x' and 'y'",
                    "save held-out inputs (channel-first, as the ONNX model takes them) as x and labels as y",
                )
            return z["x"].astype(np.float32), z["y"].astype(np.float32)
    try:
        from convert.classifier.data import load_meta, load_signals100
        from convert.classifier.train import TEST_FOLD, fixed_views
    except ImportError as exc:
        raise BadInputError(
            "data_format",
            f"cannot prepare classifier inputs from {p} ({exc})",
            "pass --data X.npz with arrays x and y",
        ) from None
    metas = [m for m in load_meta(p) if m.labels.sum() > 0 and m.fold == TEST_FOLD]
    x = load_signals100(p, metas)
    y = np.stack([m.labels for m in metas]).astype(np.float32)
    return fixed_views(x)["full"].astype(np.float32), y


def check_classifier(
    onnx_path,
    tflite_path,
    data,
    *,
    thresholds=None,
    threshold_auc: float = CLASSIFIER_THRESHOLD_AUC,
) -> ParityReport:
    from edge.models import load_tflite

    t0 = time.time()
    x, y = classifier_heldout(data)
    f_model = OnnxModel(onnx_path)
    q_model = load_tflite(tflite_path)
    xl = np.moveaxis(x, 1, -1) if x.ndim >= 3 else x
    pf = f_model.run(xl).reshape(len(x), -1)
    pq = np.concatenate([q_model.run(xl[k : k + 1]).reshape(1, -1) for k in range(len(xl))])
    thr = thresholds if thresholds is not None else [0.5] * pf.shape[1]
    af, ff = macro_auc_f1(y, pf, thr)
    aq, fq = macro_auc_f1(y, pq, thr)
    return ParityReport(
        "classification",
        len(x),
        output_agreement(pf, pq),
        "macro AUC",
        af,
        aq,
        af - aq,
        threshold_auc,
        (af - aq) <= threshold_auc,
        {"macro F1": {"float": ff, "int8": fq, "n": len(x)}},
        time.time() - t0,
    )


def check_outputs(onnx_path, tflite_path, data, *, max_abs_diff: float = 0.1) -> ParityReport:
    """Output agreement only, on `x` of an .npz (channel-first) or a .npy."""
    from edge.models import load_tflite

    t0 = time.time()
    p = Path(data)
    if not p.is_file():
        raise BadInputError(
            "data_missing", f"{p} does not exist", "pass --data X.npy or X.npz (channel-first)"
        )
    arr = np.load(p)
    x = arr["x"] if hasattr(arr, "files") else arr
    f_model = OnnxModel(onnx_path)
    q_model = load_tflite(tflite_path)
    xl = np.moveaxis(x, 1, -1).astype(np.float32) if x.ndim >= 3 else x.astype(np.float32)
    pf = f_model.run(xl)
    pq = np.concatenate([q_model.run(xl[k : k + 1]) for k in range(len(xl))])
    agree = output_agreement(pf, pq, threshold=None)
    return ParityReport(
        "custom",
        len(x),
        agree,
        "",
        None,
        None,
        None,
        max_abs_diff,
        agree["max_abs_diff"] <= max_abs_diff,
        {},
        time.time() - t0,
    )
