"""Real conversions: tiny torch models -> ONNX -> onnx2tf full-int8 TFLite -> the real interpreter,
compared with onnxruntime; manifest entries; and loader errors on the converted file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx2tf")
ort = pytest.importorskip("onnxruntime")

from edge.errors import BadInputError, ModelError  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # onnx2tf conversions: minutes
REPO = Path(__file__).resolve().parent.parent


class TinyImage(torch.nn.Module):
    """3-channel NCHW image -> 1-channel probability map (like the segmenter)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.c3 = torch.nn.Conv2d(16, 1, 3, padding=1)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = torch.nn.functional.interpolate(
            torch.relu(self.c2(a)), scale_factor=2.0, mode="nearest"
        )
        return torch.sigmoid(self.c3(torch.cat([a, b], 1)))


class TinySignal(torch.nn.Module):
    """12-lead NCW signal -> 5 class probabilities (like the classifier)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv1d(12, 16, 7, padding=3)
        self.c2 = torch.nn.Conv1d(16, 16, 5, stride=2, padding=2)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        y = torch.relu(self.c2(torch.relu(self.c1(x))))
        return torch.sigmoid(self.fc(y.mean(dim=2)))


def _export(model, shape, path: Path, in_name: str, out_name: str) -> Path:
    torch.manual_seed(0)
    model.eval()
    torch.onnx.export(
        model,
        torch.rand(*shape),
        str(path),
        input_names=[in_name],
        output_names=[out_name],
        opset_version=17,
        dynamo=False,
    )
    return path


def _ort(path: Path, x_cf: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate(
        [s.run(None, {s.get_inputs()[0].name: x_cf[i : i + 1]})[0] for i in range(len(x_cf))]
    )


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    """A converted image model in a models dir with its manifest entry (via the CLI)."""
    torch.manual_seed(1)
    d = tmp_path_factory.mktemp("img")
    onnx_path = _export(TinyImage(), (1, 3, 32, 32), d / "img.onnx", "image", "prob")
    rng = np.random.default_rng(0)
    calib = rng.random((24, 32, 32, 3), dtype=np.float32)  # NHWC, as onnx2tf wants
    np.save(d / "calib.npy", calib)
    mdir = d / "models"
    mdir.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "convert.cli",
            "quantize",
            str(onnx_path),
            "--calib",
            str(d / "calib.npy"),
            "--out",
            str(mdir / "img_int8.tflite"),
            "--name",
            "tiny_image",
            "--task",
            "trace_segmentation",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return d, onnx_path, mdir


def test_image_model_int8_matches_onnxruntime(image_model):
    from edge.models import load_model

    d, onnx_path, mdir = image_model
    m = load_model("tiny_image", mdir, num_threads=1)
    assert m.is_quantized
    assert m.input_shape == (1, 32, 32, 3) and m.output_shape == (1, 32, 32, 1)
    x = np.random.default_rng(5).random((4, 32, 32, 3), dtype=np.float32)
    y = m.run(x)  # batch of 4 via resize
    ref = _ort(onnx_path, x.transpose(0, 3, 1, 2))
    assert y.shape == (4, 32, 32, 1)
    err = np.abs(y[..., 0] - ref[:, 0])
    assert err.max() < 0.06 and err.mean() < 0.01, (err.max(), err.mean())


def test_manifest_entry_records_quantization_and_layout(image_model):
    from edge.models import sha256_file

    d, onnx_path, mdir = image_model
    data = json.loads((mdir / "manifest.json").read_text())
    (e,) = [m for m in data["models"] if m["name"] == "tiny_image"]
    assert e["file"] == "img_int8.tflite"
    assert e["sha256"] == sha256_file(mdir / "img_int8.tflite")
    assert e["size_bytes"] == (mdir / "img_int8.tflite").stat().st_size
    i, o = e["inputs"][0], e["outputs"][0]
    assert i["dtype"] == "int8" and o["dtype"] == "int8"
    assert i["layout"] == "NHWC" and i["shape"] == [1, 32, 32, 3]
    assert o["layout"] == "NHWC" and o["shape"] == [1, 32, 32, 1]
    # inputs were calibrated on [0, 1): the int8 grid spans about that range
    lo = (-128 - i["quantization"]["zero_point"]) * i["quantization"]["scale"]
    hi = (127 - i["quantization"]["zero_point"]) * i["quantization"]["scale"]
    assert -0.05 < lo <= 0.0 and 0.95 < hi < 1.1


def test_signal_model_ncw_to_nwc(tmp_path):
    from convert.manifest import make_entry, upsert_entry
    from convert.quantize import quantize
    from edge.models import load_model

    torch.manual_seed(2)
    onnx_path = _export(TinySignal(), (1, 12, 500), tmp_path / "sig.onnx", "ecg", "probabilities")
    from convert.synth import synthetic_ecg

    calib = np.stack([synthetic_ecg(seconds=1.0, fs=500, seed=s) for s in range(20)]).astype(
        np.float32
    )  # NWC
    res = quantize(onnx_path, calib, tmp_path / "sig_int8.tflite", per_tensor=True)
    assert res.input_layouts == ["NWC"] and res.output_layouts == ["NC"]
    upsert_entry(
        tmp_path / "manifest.json",
        make_entry(
            "tiny_signal",
            res.tflite_path,
            task="classification",
            input_layouts=res.input_layouts,
            output_layouts=res.output_layouts,
            labels=["a", "b", "c", "d", "e"],
        ),
    )
    m = load_model("tiny_signal", tmp_path, num_threads=1)
    assert m.input_shape == (1, 500, 12)
    x = np.stack([synthetic_ecg(seconds=1.0, fs=500, seed=100 + s) for s in range(3)]).astype(
        np.float32
    )
    y = np.concatenate([m.run(x[i : i + 1]) for i in range(3)])
    ref = _ort(onnx_path, x.transpose(0, 2, 1))
    assert y.shape == ref.shape == (3, 5)
    assert np.abs(y - ref).max() < 0.03


def test_wrong_input_shape_is_a_model_error(image_model):
    from edge.models import load_model

    d, onnx_path, mdir = image_model
    m = load_model("tiny_image", mdir, num_threads=1)
    with pytest.raises(ModelError, match="expects input shape"):
        m.run(np.zeros((1, 64, 32, 3), np.float32))
    with pytest.raises(ModelError, match="4-D"):
        m.run(np.zeros((32, 32, 3), np.float32))


def test_tampered_truncated_and_corrupt_files_are_refused(image_model, tmp_path):
    from edge.models import load_model, load_tflite

    d, onnx_path, mdir = image_model
    bad = tmp_path / "models"
    shutil.copytree(mdir, bad)
    f = bad / "img_int8.tflite"
    raw = f.read_bytes()
    # one flipped byte: same size, wrong sha256
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(flipped))
    with pytest.raises(ModelError, match="sha256") as ei:
        load_model("tiny_image", bad)
    assert ei.value.exit_code == 3 and "re-install" in ei.value.hint
    # truncated: refused before hashing, with the word 'truncated'
    f.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ModelError, match="truncated"):
        load_model("tiny_image", bad)
    # loaded directly without a manifest: a truncated flatbuffer is a clear ModelError, not a crash
    with pytest.raises(ModelError, match="cannot load|not a TFLite"):
        load_tflite(f)
    g = tmp_path / "garbage.tflite"
    g.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a TFLite model"):
        load_tflite(g)


def test_models_command_exits_3_on_a_bad_model(image_model, tmp_path):
    d, onnx_path, mdir = image_model
    good = subprocess.run(
        [sys.executable, "-m", "edge.cli", "models", "--models-dir", str(mdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert "tiny_image" in good.stdout and "ok" in good.stdout
    bad = tmp_path / "m"
    shutil.copytree(mdir, bad)
    (bad / "img_int8.tflite").write_bytes(b"TFL3" * 10)
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "models", "--models-dir", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 3
    assert "BAD" in out.stdout and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_check_command_reports_agreement(image_model, tmp_path):
    d, onnx_path, mdir = image_model
    x = np.random.default_rng(3).random(
        (3, 3, 32, 32), dtype=np.float32
    )  # channel-first, as ONNX takes it
    np.savez(tmp_path / "held.npz", x=x)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "convert.cli",
            "check",
            str(onnx_path),
            str(mdir / "img_int8.tflite"),
            "--data",
            str(tmp_path / "held.npz"),
            "--task",
            "outputs",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "max_abs_diff" in out.stdout and "PASS" in out.stdout
    strict = subprocess.run(
        [
            sys.executable,
            "-m",
            "convert.cli",
            "check",
            str(onnx_path),
            str(mdir / "img_int8.tflite"),
            "--data",
            str(tmp_path / "held.npz"),
            "--task",
            "outputs",
            "--max-abs-diff",
            "0.0",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert strict.returncode == 1 and "FAIL" in strict.stdout


def test_check_segmentation_end_to_end_fused_as_the_device_reads_photos(image_model, tmp_path):
    """`check --task segmentation --fused` digitizes held-out pages (a PTB-XL-shaped folder of
    the project's own records) with the float and the int8 model fused with the classical map,
    and reports both end-to-end SNRs and the map agreement."""
    from convert.synth import synthetic_ecg
    from edge.wfdb_io import write_record

    d, onnx_path, mdir = image_model
    data = tmp_path / "ptbxl"
    rel = "records500/00000/00010_hr"
    (data / rel).parent.mkdir(parents=True)
    write_record(data / rel, synthetic_ecg(seed=10, fs=500), 500)
    (data / "ptbxl_database.csv").write_text(f"ecg_id,strat_fold,filename_hr\n10,10,{rel}\n")
    report = tmp_path / "report.json"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "convert.cli",
            "check",
            str(onnx_path),
            str(mdir / "img_int8.tflite"),
            "--data",
            str(data),
            "--task",
            "segmentation",
            "--fused",
            "--modes",
            "clean",
            "--pages",
            "1",
            "--json",
            str(report),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode in (0, 1), out.stdout + out.stderr  # a random tiny model may lose
    rep = json.loads(report.read_text())
    assert "fused with the classical map" in rep["metric"] and rep["n_samples"] == 1
    # fused with the classical map, even a random segmenter leaves a readable clean page
    assert np.isfinite(rep["float_value"]) and rep["float_value"] > 3.0 and rep["int8_value"] > 3.0
    assert 0.0 <= rep["agreement"]["decision_agreement"] <= 1.0


def test_bad_calibration_is_rejected_before_conversion(tmp_path):
    from convert.quantize import quantize

    torch.manual_seed(3)
    onnx_path = _export(TinyImage(), (1, 3, 32, 32), tmp_path / "img.onnx", "image", "prob")
    with pytest.raises(BadInputError, match="does not fit"):
        quantize(onnx_path, np.zeros((4, 16, 16, 3), np.float32), tmp_path / "x.tflite")
    with pytest.raises(BadInputError, match="NaN"):
        quantize(onnx_path, np.full((4, 32, 32, 3), np.nan, np.float32), tmp_path / "x.tflite")
    assert not (tmp_path / "x.tflite").exists()
