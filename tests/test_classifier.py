"""The shipped int8 classifier through edge.interpret.interpret and `ecg-edge classify`: real
TFLite interpreter, real WFDB files, real subprocesses; refusal on low confidence or too few
leads; a corrupt model withholds the classification but keeps the measurements."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convert.classifier.augment import layout_mask
from convert.synth import synthetic_ecg
from edge.interpret import CLASSES, interpret
from edge.layouts import LEAD_NAMES
from edge.models import default_models_dir, find_entry, load_model
from edge.wfdb_io import write_record

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ptbxl500"
KEYS = {"probabilities", "labels", "measurements", "statements", "summary", "refused"}
MEAS_KEYS = {"heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg"}


def _ecg(seed=0, **kw):
    return synthetic_ecg(10, 500, seed=seed, **kw)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "classify", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_shipped_model_is_int8_with_manifest_entry():
    entry = find_entry("classifier")
    assert entry.labels == list(CLASSES)
    assert set(entry.thresholds) == set(CLASSES) and all(
        0 < t < 1 for t in entry.thresholds.values()
    )
    m = load_model("classifier")
    assert m.is_quantized and m.input_shape[1:] == (1000, 24) and m.output_shape[-1] == 5
    assert (default_models_dir() / entry.raw["card"]).is_file()


def test_probabilities_in_unit_interval_and_labels_follow_thresholds():
    r = interpret(_ecg(1), 500, LEAD_NAMES)
    assert r.refused is None
    assert set(r.probabilities) == set(CLASSES)
    assert all(0.0 <= p <= 1.0 for p in r.probabilities.values())
    assert r.labels == [k for k in CLASSES if r.probabilities[k] >= r.thresholds[k]]
    assert "clinician must confirm" in r.summary


def test_inputs_differ_so_outputs_differ():
    a = interpret(_ecg(2), 500, LEAD_NAMES).probabilities
    b = interpret(_ecg(2, kind="lbbb"), 500, LEAD_NAMES).probabilities
    assert max(abs(a[k] - b[k]) for k in CLASSES) > 0.01


def test_partial_3x4_1_record_is_classified():
    x = _ecg(3)
    r = interpret(
        np.where(layout_mask("3x4+1", len(x)), x, np.nan), 500, LEAD_NAMES, confidence=0.9
    )
    assert r.refused is None and r.probabilities is not None


def test_low_confidence_refuses_but_measures():
    r = interpret(_ecg(4, hr_bpm=70), 500, LEAD_NAMES, confidence=0.1)
    d = r.to_dict()
    assert d["refused"] and "confidence" in d["refused"]
    assert d["probabilities"] is None and d["labels"] == []
    assert d["measurements"]["heart_rate_bpm"] == pytest.approx(70, rel=0.05)
    assert "No classification" in d["summary"]


def test_too_few_leads_refuses():
    x = _ecg(5)
    x[:, 3:] = np.nan
    r = interpret(x, 500, LEAD_NAMES)
    assert r.refused and "leads" in r.refused
    assert r.measurements.heart_rate_bpm is not None


def test_corrupt_model_withholds_classification(tmp_path):
    mdir = tmp_path / "models"
    shutil.copytree(default_models_dir(), mdir)
    f = mdir / find_entry("classifier").file
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    r = interpret(_ecg(6), 500, LEAD_NAMES, models_dir=mdir)
    assert r.probabilities is None and "sha256" in r.refused
    assert r.measurements.heart_rate_bpm is not None


def test_tampered_feature_model_withholds_classification(tmp_path):
    """The feature model's parameter file is sha256-checked like a TFLite model: a changed byte
    withholds the classification (measurements kept) and `ecg-edge models` reports it BAD."""
    mdir = tmp_path / "models"
    shutil.copytree(default_models_dir(), mdir)
    ref = find_entry("classifier", mdir).raw.get("feature_model", {}).get("model")
    if not ref:
        pytest.skip("shipped classifier keeps its feature model inline")
    f = mdir / find_entry(ref, mdir).file
    data = bytearray(f.read_bytes())
    i = next(k for k in range(len(data) // 2, len(data)) if chr(data[k]).isdigit())
    data[i] = (
        ord("7") if data[i] != ord("7") else ord("3")
    )  # still valid JSON, same size: a changed value
    f.write_bytes(bytes(data))
    r = interpret(_ecg(6), 500, LEAD_NAMES, models_dir=mdir)
    assert r.probabilities is None and "sha256" in r.refused and f.name in r.refused
    assert r.measurements.heart_rate_bpm is not None
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "models", "--models-dir", str(mdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 3 and "BAD" in out.stdout and ref in out.stdout


def test_cli_json_has_all_keys(tmp_path):
    write_record(
        tmp_path / "rec",
        _ecg(7, hr_bpm=64),
        500,
        LEAD_NAMES,
        comments=["digitized from page.jpg", "confidence 0.900"],
    )
    p = _cli(tmp_path / "rec", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert KEYS <= set(d) and MEAS_KEYS <= set(d["measurements"])
    assert set(d["probabilities"]) == set(CLASSES)
    assert d["measurements"]["heart_rate_bpm"] == pytest.approx(64, rel=0.05)


def test_cli_reads_low_confidence_from_header(tmp_path):
    write_record(tmp_path / "rec", _ecg(8), 500, LEAD_NAMES, comments=["confidence 0.120"])
    d = json.loads(_cli(tmp_path / "rec", "--json").stdout)
    assert d["refused"] and d["probabilities"] is None


def test_cli_text_report_on_partial_record_at_250hz(tmp_path):
    from edge.interpret.signals import resample

    x = _ecg(9)
    x = np.where(layout_mask("3x4+1", len(x)), x, np.nan)
    write_record(tmp_path / "page", resample(x, 500, 250), 250, LEAD_NAMES)
    p = _cli(tmp_path / "page.hea")
    assert p.returncode == 0, p.stderr
    assert "heart rate" in p.stdout and "NORM" in p.stdout


@pytest.mark.parametrize("case", ["missing", "garbage", "names", "flat"])
def test_cli_bad_input_exit_2_one_line(tmp_path, case):
    rec = tmp_path / "bad"
    if case == "garbage":
        (tmp_path / "bad.hea").write_text("this is not a header\n")
    elif case == "names":
        write_record(rec, _ecg(10)[:, :3], 500, ["X", "Y", "Z"])
    elif case == "flat":
        write_record(rec, np.zeros((5000, 12)), 500, LEAD_NAMES)
    p = _cli(rec, "--json")
    assert p.returncode == 2
    assert p.stdout == "" and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("ecg-edge classify: ")


def test_cli_missing_models_exit_3(tmp_path):
    write_record(tmp_path / "rec", _ecg(11), 500, LEAD_NAMES)
    p = _cli(tmp_path / "rec", "--json", "--models-dir", tmp_path / "none")
    assert p.returncode == 3
    d = json.loads(p.stdout)
    assert d["refused"] and d["measurements"]["heart_rate_bpm"] is not None


@pytest.mark.needs_data
def test_real_ptbxl_fold10_ranks_classes():
    """On real PTB-XL fold-10 records the int8 model separates the classes (macro AUC > 0.75)."""
    if not (DATA / "ptbxl_database.csv").is_file():
        pytest.skip(f"PTB-XL data not found at {DATA}")
    from convert.classifier.data import load_meta
    from convert.classifier.metrics import multilabel_report
    from edge.wfdb_io import read_record

    metas = [m for m in load_meta(DATA) if m.fold == 10 and m.labels.sum() > 0]
    ps, ys = [], []
    for m in metas:
        rec = read_record(DATA / m.path_hr)
        r = interpret(rec.signals, rec.fs, rec.lead_names)
        ps.append([r.probabilities[c] for c in CLASSES])
        ys.append(m.labels)
    rep = multilabel_report(np.array(ys), np.array(ps), [0.5] * 5, CLASSES)
    assert rep["macro_auc"] > 0.75


def test_hybrid_reports_both_halves_and_fuses_them():
    from edge.interpret.beat_features import fuse

    entry = find_entry("classifier")
    if not entry.raw.get("feature_model"):
        pytest.skip("shipped classifier has no feature model")
    r = interpret(_ecg(12), 500, LEAD_NAMES)
    cnn, feat, w = (
        r.model["cnn_probabilities"],
        r.model["feature_probabilities"],
        r.model["cnn_weight"],
    )
    for k in CLASSES:
        assert r.probabilities[k] == pytest.approx(float(fuse(cnn[k], feat[k], w)), abs=2e-3)


def test_beat_features_on_partial_record():
    from edge.interpret import measure, validate
    from edge.interpret.beat_features import NAMES, beat_features

    x = _ecg(13, hr_bpm=70)
    full = beat_features(measure(validate(x, 500, LEAD_NAMES)))
    part = beat_features(
        measure(validate(np.where(layout_mask("3x4+1", len(x)), x, np.nan), 500, LEAD_NAMES))
    )
    assert full.shape == part.shape == (len(NAMES),)
    assert np.isfinite(full).mean() > 0.95 and np.isfinite(part).mean() > 0.9
    both = np.isfinite(full) & np.isfinite(part)
    assert np.corrcoef(full[both], part[both])[0, 1] > 0.95


def test_inconsistent_beats_refuse_classification():
    """Traces that are mostly digitization error (beats unlike each other) are not classified."""
    rng = np.random.default_rng(0)
    x = _ecg(14, hr_bpm=75)
    scramble = np.cumsum(rng.normal(0, 0.15, x.shape), axis=0)
    scramble -= np.convolve(scramble[:, 0], np.ones(101) / 101, mode="same")[:, None]
    r = interpret(0.3 * x + scramble, 500, LEAD_NAMES)
    clean = interpret(x, 500, LEAD_NAMES)
    assert clean.measurements.qrs_consistency > 0.9 and clean.refused is None
    assert r.measurements.qrs_consistency < 0.55
    assert r.refused and "resemble" in r.refused and r.probabilities is None


def test_beat_features_follow_the_findings():
    """The median-beat features mean what their names say: inverted T waves turn the T axis
    against the QRS axis, ST elevation lifts the J point, doubled chest leads double Sokolow."""
    from edge.interpret import measure, validate
    from edge.interpret.beat_features import NAMES, beat_features

    def feats(x):
        return dict(zip(NAMES, beat_features(measure(validate(x, 500, LEAD_NAMES)))))

    def j_max(f):
        return max(f[f"{lead}_j_mv"] for lead in LEAD_NAMES)

    for seed in range(3):
        normal = feats(_ecg(seed, kind="normal"))
        assert normal["qrs_t_cos"] > 0.5
        assert feats(_ecg(seed, kind="t_inversion"))["qrs_t_cos"] < -0.5
        assert j_max(feats(_ecg(seed, kind="st_elevation"))) > j_max(normal) + 0.08
        x = _ecg(seed, kind="normal")
        x[:, 6:] *= 2.0
        assert feats(x)["sokolow_mv"] == pytest.approx(2 * normal["sokolow_mv"], rel=0.1)


def test_q_wave_width_on_a_drawn_beat():
    """A 40 ms initial negative deflection reads as a ~40 ms Q wave; an R-first QRS has none."""
    from edge.interpret.beat_features import PER_LEAD, lead_features

    fs, on, off, r = 500.0, 100, 150, 130
    beat = np.zeros(400)
    t = np.arange(20)
    beat[on : on + 20] = -0.3 * np.sin(np.pi * t / 20)  # Q: 40 ms below the baseline
    beat[on + 20 : off] = 1.2 * np.sin(np.pi * np.arange(30) / 30)  # then the R wave
    q_ms = dict(zip(PER_LEAD, lead_features(beat, on, off, r, fs)))["q_ms"]
    assert 34 <= q_ms <= 46
    beat[on : on + 20] = 0.2 * np.sin(np.pi * t / 20)
    assert dict(zip(PER_LEAD, lead_features(beat, on, off, r, fs)))["q_ms"] == 0


def test_boosted_trees_on_the_device_match_scikit_learn():
    """The exported trees, walked by the device's numpy code, give scikit-learn's probabilities
    (missing features imputed the same way), on data where an interaction decides the label."""
    pytest.importorskip("sklearn")
    from sklearn.ensemble import GradientBoostingClassifier

    from convert.classifier import boost
    from edge.interpret.beat_features import boosted_probabilities

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 12))
    y = ((X[:, 0] > 0.2) & (X[:, 1] * X[:, 2] > 0)).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan
    model = boost.fit_boosted(X, y[:, None])
    mine = np.array([boosted_probabilities(x, model)[0] for x in X])
    Xi = np.where(np.isfinite(X), X, np.nanmean(X, axis=0))
    w = np.where(y > 0, np.clip((1 - y.mean()) / y.mean(), 1, 6), 1.0)
    ref = (
        GradientBoostingClassifier(
            n_estimators=boost.N_TREES,
            learning_rate=boost.LEARNING_RATE,
            max_depth=boost.DEPTH,
            min_samples_leaf=boost.MIN_LEAF,
            subsample=0.8,
            random_state=0,
        )
        .fit(Xi, y, sample_weight=w)
        .predict_proba(Xi)[:, 1]
    )
    assert np.abs(mine - ref).max() < 1e-5
    assert ((mine > 0.5) == (y > 0)).mean() > 0.9


def test_feature_model_choice_by_leave_one_fold_out():
    """On features where the label needs an interaction (a wide QRS *and* a deep Q), the
    leave-one-fold-out choice blends in the trees, and the refitted model ranks held-out data well."""
    pytest.importorskip("sklearn")
    from convert.classifier.fusion import cv_feature_model, feature_probs
    from convert.classifier.metrics import multilabel_report

    rng = np.random.default_rng(1)

    def data(n):
        X = rng.normal(size=(n, 8))
        y = np.stack(
            [
                (X[:, 0] > 0.3) & (X[:, 1] > 0.3),
                X[:, 2] + 0.5 * X[:, 3] > 0.5,
                (X[:, 4] > 0) & (X[:, 5] < 0.5),
                X[:, 6] > 0.8,
                np.abs(X[:, 7]) > 1.0,
            ],
            1,
        ).astype(float)
        return X, y

    X, Y = data(600)
    model, scores = cv_feature_model(
        X, Y, np.repeat(np.arange(4), 150), lams=(0.3, 3.0), boost_weights=(0.0, 0.5)
    )
    assert set(scores) == {
        "lambda=0.3",
        "lambda=3.0",
        f"lambda={model['lambda']},boosted_weight=0.0",
        f"lambda={model['lambda']},boosted_weight=0.5",
    }
    assert model.get("boosted_weight") == 0.5 and model["boosted"]["classes"]
    Xt, Yt = data(400)
    assert multilabel_report(Yt, feature_probs(Xt, model), [0.5] * 5, CLASSES)["macro_auc"] > 0.9
