"""Segmenter building blocks: the U-Net's shapes and cost, training pages rectified from synthesizer
photos (mask on the ink), augmentation, ONNX export parity, resumable training, and the digitizer
running with the shipped learned trace stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "ptbxl500"
needs_data = pytest.mark.skipif(not (DATA / "ptbxl_database.csv").is_file(),
                                reason=f"PTB-XL subset not found at {DATA}")


def test_unet_shapes_and_budget():
    from convert.segmenter.model import TraceUNet, count_params, macs_per_pixel

    m = TraceUNet().eval()
    with torch.no_grad():
        y = m(torch.rand(2, 3, 64, 96))
    assert y.shape == (2, 1, 64, 96)
    assert count_params(m) < 250_000              # int8 weights well under 1 MB
    assert macs_per_pixel(m) < 3000               # whole page in ~0.3 s on 2 cores


def test_rectified_photo_mask_sits_on_the_ink():
    from convert.segmenter.data import rectify
    from convert.synth import render_page, synthetic_ecg

    page = render_page(synthetic_ecg(seed=4), 500, layout="3x4+1", mode="photo", seed=4,
                       photo_size=(1600, 1200))
    img, mask = rectify(page.image, page.mask, page.meta, 6.0)
    w_mm, h_mm = page.meta["page_mm"]
    assert img.shape[:2] == (round(h_mm * 6), round(w_mm * 6))
    on = mask.astype(bool)
    assert on.sum() > 2000
    # trace pixels are darker (brightest channel) than the rest of the page
    v = img.max(axis=2).astype(float)
    assert np.median(v[on]) < np.median(v[~on]) - 40


def test_augment_and_batches_keep_shapes():
    from convert.segmenter.data import augment, sample_batch

    rng = np.random.default_rng(0)
    img = np.full((300, 400, 3), 240, np.uint8)
    mask = np.zeros((300, 400), np.uint8)
    mask[150, 20:380] = 1
    img[mask > 0] = 20
    for _ in range(20):
        a, m = augment(img.copy(), mask.copy(), rng)
        assert a.shape == img.shape and a.dtype == np.uint8
        assert m.sum() == mask.sum()
    x, y = sample_batch([(img, mask)], rng, 4, 128)
    assert x.shape == (4, 3, 128, 128) and y.shape == (4, 1, 128, 128)
    assert 0 <= x.min() and x.max() <= 1 and set(np.unique(y)) <= {0.0, 1.0}


def test_onnx_export_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from convert.segmenter.model import TraceUNet
    from convert.segmenter.train import export_onnx

    torch.manual_seed(0)
    m = TraceUNet().eval()
    p = export_onnx(m, tmp_path / "s.onnx", tile=64)
    x = np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32)
    s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    assert s.get_inputs()[0].name == "page" and s.get_outputs()[0].name == "trace_prob"
    got = s.run(None, {"page": x})[0]
    with torch.no_grad():
        ref = torch.sigmoid(m(torch.from_numpy(x))).numpy()
    assert np.abs(got - ref).max() < 1e-4


def test_train_segmenter_without_data_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "convert.cli", "train-segmenter", "--data", str(tmp_path / "none"),
                          "--out", str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "no PTB-XL data" in out.stderr and "Traceback" not in out.stderr


@needs_data
@pytest.mark.needs_data
def test_training_runs_and_resumes(tmp_path):
    from convert.segmenter.train import TrainConfig, load_checkpoint, train

    cfg = TrainConfig(data=str(DATA), out=str(tmp_path / "run"), train_pages=2, val_pages=1, steps=4, val_every=2,
                      batch=2, crop=64, threads=1, modes=("clean",), widths=(4, 8, 8, 8, 8))
    best = train(cfg, log=lambda s: None)
    model, ck = load_checkpoint(best)
    assert ck["step"] in (2, 4)
    cfg.steps = 6
    train(cfg, resume=True, log=lambda s: None)
    _, last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["step"] == 6
    assert len(last["history"]) == 3                  # validations at steps 2, 4 and 6


@pytest.mark.slow
def test_digitizer_runs_with_the_learned_stage():
    """End to end on the device path: the shipped int8 segmenter, tiled, as digitize()'s trace stage."""
    from convert.segmenter.ship import EXPERIMENTAL_NAME
    from convert.synth import render_page, synthetic_ecg
    from edge.digitize import digitize
    from edge.digitize.traceprob_tflite import make_tflite_trace_probability
    from edge.models import load_model
    from edge.snr import mean_snr, record_snr

    fn = make_tflite_trace_probability(load_model(EXPERIMENTAL_NAME, num_threads=2))
    page = render_page(synthetic_ecg(seed=11), 500, layout="3x4+1", mode="clean", seed=11)
    res = digitize(page.image, fs=500, trace_model=fn)
    assert res.signals.shape[1] == 12
    snr = mean_snr(record_snr(page.truth, res.signals, 500, res.lead_names))
    assert snr > 3.0, snr
