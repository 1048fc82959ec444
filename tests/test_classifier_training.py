"""The workstation side on a small PTB-XL-shaped data set made with the synthesizer (no real data
needed): label parsing, training, ONNX export, evaluate-measurements and bad --data handling."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convert.synth import synthetic_ecg
from edge.layouts import LEAD_NAMES
from edge.wfdb_io import write_record

ROOT = Path(__file__).resolve().parents[1]
KIND_CODES = {
    "normal": "{'NORM': 100.0, 'SR': 0.0}",
    "lbbb": "{'CLBBB': 100.0, 'SR': 0.0}",
    "st_elevation": "{'IMI': 80.0, 'SR': 0.0}",
    "t_inversion": "{'NDT': 100.0, 'SR': 0.0}",
    "af": "{'AFIB': 100.0, 'NDT': 50.0}",
}
STATEMENTS = [
    ("NORM", 1, "NORM"),
    ("CLBBB", 1, "CD"),
    ("IMI", 1, "MI"),
    ("NDT", 1, "STTC"),
    ("SR", "", ""),
    ("AFIB", "", ""),
]


@pytest.fixture(scope="module")
def fake_ptbxl(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ptbxl")
    kinds = list(KIND_CODES)
    with open(d / "scp_statements.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", "description", "diagnostic", "form", "rhythm", "diagnostic_class"])
        for code, diag, cls in STATEMENTS:
            w.writerow([code, code, diag, "", "" if diag else 1, cls])
    with open(d / "ptbxl_database.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["ecg_id", "scp_codes", "heart_axis", "strat_fold", "filename_lr", "filename_hr"]
        )
        for i in range(1, 31):
            kind = kinds[i % len(kinds)]
            rel = f"records500/00000/{i:05d}_hr"
            write_record(d / rel, synthetic_ecg(10, 500, seed=i, kind=kind), 500, LEAD_NAMES)
            w.writerow([i, KIND_CODES[kind], "MID" if i % 3 else "", 1 + (i % 10), "", rel])
    return d


def test_labels_follow_scp_statements(fake_ptbxl):
    from convert.classifier import CLASSES
    from convert.classifier.data import load_meta

    metas = load_meta(fake_ptbxl)
    assert len(metas) == 30
    by_kind = {m.ecg_id: m for m in metas}
    assert by_kind[5].labels.tolist() == [1, 0, 0, 0, 0]  # normal
    assert by_kind[6].labels[CLASSES.index("CD")] == 1  # lbbb
    af = [m for m in metas if "AFIB" in m.scp_codes][0]
    assert (
        af.labels[CLASSES.index("STTC")] == 1 and af.labels.sum() == 1
    )  # AFIB is rhythm, not diagnostic


@pytest.mark.slow
def test_train_two_epochs_and_export_onnx(fake_ptbxl, tmp_path):
    pytest.importorskip("torch", reason="training needs the workstation stack (.[convert])")
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the workstation stack")

    from convert.classifier.export import export_onnx
    from convert.classifier.train import TrainConfig, load_ensemble, train

    res = train(
        fake_ptbxl, tmp_path / "run", TrainConfig(epochs=2, members=1, threads=1, eval_every=1)
    )
    assert len(res["thresholds"]) == 5 and all(0 <= t <= 1 for t in res["thresholds"])
    calib = np.load(tmp_path / "run" / "calib_nwc.npy")
    assert calib.shape[1:] == (1000, 24) and calib.dtype == np.float32
    ens, info = load_ensemble(tmp_path / "run")
    path = export_onnx(ens, tmp_path / "run" / "m.onnx")
    g = onnx.load(str(path)).graph
    assert g.input[0].name == "ecg" and [
        d.dim_value for d in g.input[0].type.tensor_type.shape.dim
    ] == [1, 24, 1000]


def test_evaluate_measurements_cli(fake_ptbxl, tmp_path):
    out = tmp_path / "m.json"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "convert.cli",
            "evaluate-measurements",
            "--data",
            str(fake_ptbxl),
            "--folds",
            "1-10",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    rep = json.loads(out.read_text())
    assert rep["n_records"] == 30
    # lbbb records carry CLBBB and must be found wide; AF records irregular
    assert rep["full"]["wide QRS (CLBBB/CRBBB/IVCD/WPW)"]["sensitivity"] >= 0.5
    assert rep["full"]["AFIB"]["sensitivity"] >= 0.5
    assert "measured axis by PTB-XL heart_axis" in p.stdout


@pytest.mark.parametrize(
    "cmd", ["evaluate-measurements", "evaluate-classifier", "train-classifier"]
)
def test_missing_data_is_a_clear_error(cmd, tmp_path):
    if cmd == "train-classifier":
        pytest.importorskip("torch", reason="training needs the workstation stack (.[convert])")
    p = subprocess.run(
        [sys.executable, "-m", "convert.cli", cmd, "--data", str(tmp_path / "nope")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr and "no PTB-XL data" in p.stderr
