"""Segmenter building blocks: the U-Net's shapes and cost, training pages rectified from synthesizer
photos (mask on the ink), augmentation, ONNX export parity, resumable training, and the digitizer
running with the shipped learned trace stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "ptbxl500"
needs_data = pytest.mark.skipif(
    not (DATA / "ptbxl_database.csv").is_file(), reason=f"PTB-XL subset not found at {DATA}"
)


def test_unet_shapes_and_budget():
    torch = pytest.importorskip("torch")
    from convert.segmenter.model import TraceUNet, count_params, macs_per_pixel

    m = TraceUNet().eval()
    with torch.no_grad():
        y = m(torch.rand(2, 3, 64, 96))
    assert y.shape == (2, 1, 64, 96)
    assert count_params(m) < 250_000  # int8 weights well under 1 MB
    assert macs_per_pixel(m) < 3000  # whole page in ~0.3 s on 2 cores


def test_rectified_photo_mask_sits_on_the_ink():
    from convert.segmenter.data import rectify
    from convert.synth import render_page, synthetic_ecg

    page = render_page(
        synthetic_ecg(seed=4), 500, layout="3x4+1", mode="photo", seed=4, photo_size=(1600, 1200)
    )
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
        # a crumpled page moves the trace a little (photo_effects.displace), mask and ink alike
        assert abs(int(m.sum()) - int(mask.sum())) <= 0.1 * mask.sum()
        assert a[m > 0].mean() < a[m == 0].mean()
    x, y = sample_batch([(img, mask)], rng, 4, 128)
    assert x.shape == (4, 3, 128, 128) and y.shape == (4, 1, 128, 128)
    assert 0 <= x.min() and x.max() <= 1 and set(np.unique(y)) <= {0.0, 1.0}


def test_onnx_export_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
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
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "convert.cli",
            "train-segmenter",
            "--data",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "run"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "no PTB-XL data" in out.stderr and "Traceback" not in out.stderr


@needs_data
@pytest.mark.needs_data
def test_training_runs_and_resumes(tmp_path):
    pytest.importorskip("torch")
    from convert.segmenter.train import TrainConfig, load_checkpoint, train

    cfg = TrainConfig(
        data=str(DATA),
        out=str(tmp_path / "run"),
        train_pages=2,
        val_pages=1,
        steps=4,
        val_every=2,
        batch=2,
        crop=64,
        threads=1,
        modes=("clean",),
        widths=(4, 8, 8, 8, 8),
    )
    best = train(cfg, log=lambda s: None)
    model, ck = load_checkpoint(best)
    assert ck["step"] in (2, 4)
    cfg.steps = 6
    train(cfg, resume=True, log=lambda s: None)
    _, last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["step"] == 6
    assert len(last["history"]) == 3  # validations at steps 2, 4 and 6


@pytest.mark.slow
def test_digitizer_runs_with_the_learned_stage():
    """End to end on the device path: the shipped int8 segmenter, tiled, as digitize()'s trace stage."""
    from convert.segmenter.ship import MODEL_NAME
    from convert.synth import render_page, synthetic_ecg
    from edge.digitize import digitize
    from edge.digitize.traceprob_tflite import make_tflite_trace_probability
    from edge.models import load_model
    from edge.snr import mean_snr, record_snr

    fn = make_tflite_trace_probability(load_model(MODEL_NAME, num_threads=2))
    page = render_page(synthetic_ecg(seed=11), 500, layout="3x4+1", mode="clean", seed=11)
    res = digitize(page.image, fs=500, trace_model=fn)
    assert res.signals.shape[1] == 12
    snr = mean_snr(record_snr(page.truth, res.signals, 500, res.lead_names))
    assert snr > 3.0, snr


@pytest.fixture(scope="module")
def tiny_ptbxl(tmp_path_factory):
    """A PTB-XL-shaped directory (database CSV + 500 Hz WFDB records) of four synthetic records,
    written with the project's own writer: folds 1, 2, 9 and 10."""
    from convert.synth import synthetic_ecg
    from edge.wfdb_io import write_record

    root = tmp_path_factory.mktemp("ptbxl")
    rows = ["ecg_id,strat_fold,filename_hr"]
    for ecg_id, fold in ((1, 1), (2, 2), (3, 9), (4, 10)):
        rel = f"records500/00000/{ecg_id:05d}_hr"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_record(root / rel, synthetic_ecg(seed=ecg_id, fs=500), 500)
        rows.append(f"{ecg_id},{fold},{rel}")
    (root / "ptbxl_database.csv").write_text("\n".join(rows) + "\n")
    return root


def test_signal_pack_holds_the_folds_signals_to_the_microvolt(tiny_ptbxl, tmp_path):
    """Training on a machine without the WFDB files (a rented GPU box) reads one .npz pack."""
    from convert.segmenter.data import fold_records, load_signals, pack_records

    pack = pack_records(tiny_ptbxl, tuple(range(1, 10)), tmp_path / "signals.npz")
    refs = fold_records(pack, (1, 2, 9))
    assert [(r.ecg_id, r.fold) for r in refs] == [(1, 1), (2, 2), (3, 9)]
    assert fold_records(pack, (10,)) == []  # fold 10 is never packed: it is the test fold
    for ref, orig in zip(refs, fold_records(tiny_ptbxl, (1, 2, 9))):
        got, fs = load_signals(ref)
        want, fs0 = load_signals(orig)
        assert fs == fs0 == 500 and got.shape == want.shape == (5000, 12)
        assert np.abs(got - want).max() <= 0.0005 + 1e-6


def test_parallel_page_cache_matches_the_serial_one(tiny_ptbxl, tmp_path):
    """Page i is the same whichever number of processes rendered it (resumable, reproducible)."""
    from convert.segmenter.data import build_cache

    kw = dict(px_per_mm=4.0, seed=5, modes=("clean", "scan"), progress=False)
    serial = build_cache(tiny_ptbxl, (1, 2), tmp_path / "a", 3, jobs=1, **kw)
    parallel = build_cache(tiny_ptbxl, (1, 2), tmp_path / "b", 3, jobs=2, **kw)
    for a, b in zip(serial, parallel):
        with np.load(a) as za, np.load(b) as zb:
            assert np.array_equal(za["image"], zb["image"]) and np.array_equal(
                za["mask"], zb["mask"]
            )
            assert za["mask"].any()


def test_training_from_a_pack_with_batch_workers(tiny_ptbxl, tmp_path):
    """The GPU-box path on the CPU: signals from a pack, pages and batches from worker processes,
    and a time budget that stops the run with a saved, annealed checkpoint."""
    pytest.importorskip("torch")
    from convert.segmenter.data import pack_records
    from convert.segmenter.train import TrainConfig, load_checkpoint, train

    pack = pack_records(tiny_ptbxl, tuple(range(1, 10)), tmp_path / "signals.npz")
    cfg = TrainConfig(
        data=str(pack),
        out=str(tmp_path / "run"),
        train_pages=2,
        val_pages=1,
        steps=4,
        val_every=2,
        batch=2,
        crop=64,
        threads=1,
        modes=("clean",),
        widths=(4, 8, 8, 8, 8),
        workers=2,
        device="cpu",
    )
    best = train(cfg, log=lambda s: None)
    _, ck = load_checkpoint(best)
    assert ck["config"]["workers"] == 2 and ck["step"] in (2, 4)
    _, last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["step"] == 4 and all(v.device.type == "cpu" for v in last["model"].values())
