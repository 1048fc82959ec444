"""Interpretation of a 12-lead recording for the screen and the report: measurements and
statements (signal processing) plus class probabilities from the int8 classifier, with a
plain-language summary. Classification is withheld, with the reason, when the digitization
confidence is too low, the limb leads contradict each other or too little of the record is
present; measurements are still given."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ModelError

from .consistency import MIN_READING_SNR_DB, estimated_snr_db, relation_residuals
from .features import model_input
from .measure import Measurements, measure
from .signals import validate
from .statements import Statement, statements

log = logging.getLogger(__name__)

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
CLASS_TEXT = {
    "NORM": "Normal ECG",
    "MI": "Possible myocardial infarction",
    "STTC": "Possible ST/T abnormality",
    "CD": "Possible conduction disturbance",
    "HYP": "Possible hypertrophy",
}
MIN_CONFIDENCE = 0.4  # digitization confidence below which no classification is given
MIN_QRS_CONSISTENCY = (
    0.55  # below every real PTB-XL record seen (min 0.60 over 500): traces mostly error
)
MIN_ESTIMATED_SNR_DB = (
    MIN_READING_SNR_DB  # limb-lead consistency SNR below which the reading is mostly error
)
MIN_LEADS = 8  # leads that must show at least MIN_LEAD_S of signal
MIN_LEAD_S = 1.5
DISCLAIMER = "Automated reading - a clinician must confirm."
MODEL_NAME = "classifier"

_MODEL_CACHE: dict[str, Any] = {}


@dataclass
class Interpretation:
    """Everything the screen and report.json show about one recording."""

    measurements: Measurements
    statements: list[Statement]
    probabilities: dict[str, float] | None = None
    labels: list[str] = field(default_factory=list)
    thresholds: dict[str, float] | None = None
    refused: str | None = None
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    model: dict[str, Any] | None = None
    model_error: str | None = None
    lead_consistency: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "probabilities": None
            if self.probabilities is None
            else {k: round(float(v), 4) for k, v in self.probabilities.items()},
            "labels": list(self.labels),
            "label_text": [CLASS_TEXT.get(k, k) for k in self.labels],
            "thresholds": self.thresholds,
            "measurements": self.measurements.to_dict(),
            "statements": [s.text for s in self.statements],
            "statement_codes": [s.code for s in self.statements],
            "summary": self.summary,
            "refused": self.refused,
            "warnings": list(self.warnings),
            "model": self.model,
            "lead_consistency": dict(self.lead_consistency),
        }


def _load_classifier(models_dir: str | Path | None):
    """The installed classifier (cached per models directory)."""
    from edge.models import load_model

    key = str(models_dir)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load_model(MODEL_NAME, models_dir)
    return _MODEL_CACHE[key]


def feature_model(entry, models_dir: str | Path | None = None) -> dict | None:
    """The classifier's median-beat feature model: the manifest entry's `feature_model` settings
    merged with the parameters of the model file it names (sha256-checked, cached), or None."""
    from edge.models import find_entry, read_json_model, verify_entry

    fm = entry.raw.get("feature_model") if entry is not None else None
    if not fm or not fm.get("model"):
        return fm or None  # None, or parameters inline in the manifest (older models)
    key = f"{models_dir}:{fm['model']}"
    if key not in _MODEL_CACHE:
        params = read_json_model(verify_entry(find_entry(str(fm["model"]), models_dir), models_dir))
        _MODEL_CACHE[key] = {**params, **fm}
    return _MODEL_CACHE[key]


def _coverage_reason(present: np.ndarray, fs: float) -> str | None:
    """Why the record is too incomplete to classify, or None."""
    lead_s = present.sum(axis=0) / fs
    ok = int((lead_s >= MIN_LEAD_S).sum())
    if ok < MIN_LEADS:
        return (
            f"only {ok} of 12 leads have at least {MIN_LEAD_S:g} s of signal "
            f"(need {MIN_LEADS}); retake the photo with the whole page in view"
        )
    return None


def quality_reason(meas: Measurements) -> str | None:
    """Why the traces are too unreliable to classify (beats do not resemble each other), or None."""
    q = meas.qrs_consistency
    if q is not None and q < MIN_QRS_CONSISTENCY:
        return (
            f"the beats do not resemble each other (QRS consistency {q:.2f} < {MIN_QRS_CONSISTENCY:.2f}), "
            "so the traces were probably misread; retake the photo"
        )
    return None


def classify_probabilities(
    signals12: np.ndarray,
    fs: float,
    models_dir: str | Path | None = None,
    model=None,
    measurements: Measurements | None = None,
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Class probabilities, thresholds and model info for canonical (n, 12) signals: the CNN's,
    fused with the median-beat feature model when the manifest entry carries one."""
    m = model if model is not None else _load_classifier(models_dir)
    entry = getattr(m, "entry", None)
    labels = list(entry.labels if entry else CLASSES) or list(CLASSES)
    raw_thr = entry.thresholds if entry else None
    if isinstance(raw_thr, dict):
        thr = {k: float(raw_thr.get(k, 0.5)) for k in labels}
    elif isinstance(raw_thr, (list, tuple)) and len(raw_thr) == len(labels):
        thr = {k: float(t) for k, t in zip(labels, raw_thr)}
    else:
        thr = {k: 0.5 for k in labels}
    x = model_input(signals12, fs)[None]
    y = np.asarray(m.run(x), dtype=np.float64).reshape(-1)
    if y.shape[0] != len(labels):
        raise ModelError(
            "model_output",
            f"classifier gives {y.shape[0]} outputs for {len(labels)} labels",
            "re-install the models (ecg-edge update-models)",
        )
    if not np.isfinite(y).all():
        raise ModelError(
            "model_output",
            "classifier gave non-finite outputs",
            "re-install the models (ecg-edge update-models)",
        )
    y = np.clip(y, 0.0, 1.0)
    info: dict[str, Any] = {
        "name": getattr(m, "name", MODEL_NAME),
        "sha256": entry.sha256[:16] if entry is not None else None,
        "quantized": bool(getattr(m, "is_quantized", False)),
    }
    fm = feature_model(entry, models_dir) if measurements is not None else None
    if fm and entry is not None and measurements is not None:
        from .beat_features import NAMES, beat_features, feature_probabilities, fuse

        if list(fm.get("names") or []) != list(NAMES) or len(fm.get("weights") or []) != len(
            labels
        ):
            raise ModelError(
                "feature_model",
                "the classifier's feature model does not match this software",
                "install matching models and software (ecg-edge update-models)",
            )
        w = float((entry.raw.get("fusion") or {}).get("cnn_weight", 0.5))
        pf = feature_probabilities(beat_features(measurements), fm)
        info["cnn_probabilities"] = {k: round(float(v), 4) for k, v in zip(labels, y)}
        info["feature_probabilities"] = {k: round(float(v), 4) for k, v in zip(labels, pf)}
        info["cnn_weight"] = w
        y = fuse(y, pf, w)
    probs = {k: float(v) for k, v in zip(labels, y)}
    return probs, thr, info


def summarize(
    meas: Measurements, stmts: list[Statement], labels: list[str], refused: str | None
) -> str:
    """One short paragraph for the screen: rhythm and rate, main findings, the disclaimer."""
    parts = []
    rhythm = [
        s for s in stmts if s.code in ("SR", "SBRAD", "STACH", "IRREG", "IRREG_AF", "NOP", "RATE?")
    ]
    if rhythm:
        r = rhythm[0]
        hr = meas.heart_rate_bpm
        parts.append(
            f"{r.text} {hr:.0f}/min." if hr is not None and r.code != "RATE?" else f"{r.text}."
        )
    forms = [
        s for s in stmts if s.code in ("WIDEQRS", "LNGQT", "LAD", "RAD", "EAD", "LPR", "LVOLT")
    ]
    for s in forms[:2]:
        parts.append(s.text.split(" (")[0] + ".")
    if refused:
        parts.append(f"No classification: {refused.split(';')[0]}.")
    else:
        abnormal = [k for k in labels if k != "NORM"]
        if abnormal:
            texts = [CLASS_TEXT.get(k, k) for k in abnormal]
            parts.append(", ".join([texts[0]] + [t[0].lower() + t[1:] for t in texts[1:]]) + ".")
        elif "NORM" in labels:
            parts.append("No abnormality detected by the classifier.")
        else:
            parts.append("Classifier undecided.")
    parts.append(DISCLAIMER)
    return " ".join(parts)


def consistency_reason(residuals: dict[str, float]) -> str | None:
    """Why the limb leads contradict each other too much to classify (edge.interpret.consistency), or None."""
    est = estimated_snr_db(residuals)
    if est is None or est >= MIN_ESTIMATED_SNR_DB:
        return None
    laws = " and ".join(sorted(residuals))
    return (
        f"the limb leads contradict each other ({laws}: estimated reading SNR {est:.1f} dB < "
        f"{MIN_ESTIMATED_SNR_DB:g} dB), so the traces were probably misread; "
        "retake the photo flat, in focus and evenly lit"
    )


def interpret(
    signals,
    fs,
    lead_names,
    *,
    confidence: float | None = None,
    models_dir: str | Path | None = None,
    model=None,
    min_confidence: float = MIN_CONFIDENCE,
) -> Interpretation:
    """Measurements, statements, class probabilities and a summary for (n, n_leads) mV signals.

    Raises BadInputError for input that is not an ECG (see `edge.interpret.signals.validate`);
    a low `confidence` (0..1, from the digitizer), too few leads or a missing/corrupt model only
    withhold the classification (`refused` says why)."""
    prep = validate(signals, fs, lead_names)
    meas = measure(prep)
    stmts = statements(meas)
    result = Interpretation(
        measurements=meas, statements=stmts, warnings=list(prep.warnings) + meas.notes
    )
    reason = None
    if confidence is not None and (not np.isfinite(confidence) or confidence < min_confidence):
        reason = (
            f"digitization confidence {confidence:.2f} is below {min_confidence:.2f}; "
            "retake the photo flat, in focus and evenly lit"
        )
    if reason is None:
        reason = _coverage_reason(prep.present, prep.fs)
    residuals = relation_residuals(prep.signals, prep.fs)
    est = estimated_snr_db(residuals)
    result.lead_consistency = {
        **{k: round(v, 3) for k, v in residuals.items()},
        **({"estimated_snr_db": round(est, 1)} if est is not None else {}),
    }
    q_reason = quality_reason(meas)
    if q_reason is not None:
        result.warnings.append("beats are inconsistent: measurements may be unreliable")
    if reason is None:
        reason = q_reason
    if reason is None:
        reason = consistency_reason(residuals)
    if reason is None:
        try:
            probs, thr, info = classify_probabilities(
                prep.signals, prep.fs, models_dir, model, meas
            )
            result.probabilities, result.thresholds, result.model = probs, thr, info
            result.labels = [k for k in probs if probs[k] >= thr[k]]
        except ModelError as exc:
            reason = f"classifier unavailable ({exc.message}); {exc.hint}"
            result.model_error = exc.code
            log.warning("classifier unavailable: %s", exc)
    result.refused = reason
    result.summary = summarize(meas, stmts, result.labels, reason)
    return result
