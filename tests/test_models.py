"""Device model runtime: manifest reading and writing, sha256 verification before loading, the
shipped models' integrity, and the shipped segmenter on a rendered page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ModelError
from edge.models import (
    default_models_dir,
    find_entry,
    load_model,
    read_manifest,
    sha256_file,
    verify_entry,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "models"


def _write_manifest(d: Path, entries: list[dict]) -> None:
    (d / "manifest.json").write_text(json.dumps({"schema": 1, "models": entries}))


def _entry_for(d: Path, name: str, fname: str, data: bytes) -> dict:
    (d / fname).write_bytes(data)
    return {
        "name": name,
        "file": fname,
        "sha256": sha256_file(d / fname),
        "size_bytes": len(data),
        "task": "test",
        "inputs": [],
        "outputs": [],
    }


def test_missing_and_invalid_manifest_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="no model manifest") as ei:
        read_manifest(tmp_path)
    assert ei.value.exit_code == 3 and ei.value.hint
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": 1}))
    with pytest.raises(ModelError, match="no 'models' list"):
        read_manifest(tmp_path)


def test_unknown_model_names_the_installed_ones(tmp_path):
    _write_manifest(tmp_path, [_entry_for(tmp_path, "alpha", "a.tflite", b"TFL3" * 8)])
    with pytest.raises(ModelError, match="installed: alpha"):
        find_entry("beta", tmp_path)


def test_sha256_is_checked_before_loading(tmp_path):
    e = _entry_for(tmp_path, "alpha", "a.tflite", b"0123" * 100)
    _write_manifest(tmp_path, [e])
    assert verify_entry(find_entry("alpha", tmp_path), tmp_path) == tmp_path / "a.tflite"
    (tmp_path / "a.tflite").write_bytes(b"0124" * 100)  # same size, other content
    with pytest.raises(ModelError, match="fails its sha256 check"):
        load_model("alpha", tmp_path)
    (tmp_path / "a.tflite").write_bytes(b"0123" * 10)
    with pytest.raises(ModelError, match="truncated"):
        load_model("alpha", tmp_path)
    (tmp_path / "a.tflite").unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model("alpha", tmp_path)


def test_valid_sha_but_not_a_model_is_refused(tmp_path):
    _write_manifest(tmp_path, [_entry_for(tmp_path, "alpha", "a.tflite", os.urandom(256))])
    with pytest.raises(ModelError, match="not a TFLite model|cannot load"):
        load_model("alpha", tmp_path)


def test_models_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ECG_EDGE_MODELS", str(tmp_path))
    assert default_models_dir() == tmp_path
    monkeypatch.delenv("ECG_EDGE_MODELS")
    assert default_models_dir() == SHIPPED


def test_upsert_entry_replaces_by_name_atomically(tmp_path):
    from convert.manifest import read, remove_entry, upsert_entry

    mf = tmp_path / "manifest.json"
    upsert_entry(mf, {"name": "b", "file": "b.tflite", "sha256": "1" * 64})
    upsert_entry(mf, {"name": "a", "file": "a.tflite", "sha256": "2" * 64})
    upsert_entry(mf, {"name": "b", "file": "b2.tflite", "sha256": "3" * 64})
    data = read(mf)
    assert data["schema"] == 1
    assert [(m["name"], m["file"]) for m in data["models"]] == [
        ("a", "a.tflite"),
        ("b", "b2.tflite"),
    ]
    assert not list(tmp_path.glob(".manifest.json.*"))  # no temp files left behind
    remove_entry(mf, "a")
    assert [m["name"] for m in read(mf)["models"]] == ["b"]


def test_shipped_manifest_entries_all_verify():
    """Every model in models/ (ours and the other engineers') matches its manifest sha256 and size."""
    if not (SHIPPED / "manifest.json").exists():
        pytest.fail("models/manifest.json is missing from the repository")
    entries = read_manifest(SHIPPED)
    assert entries
    for e in entries:
        p = verify_entry(e, SHIPPED)
        assert p.stat().st_size == e.size_bytes


def test_models_command_lists_shipped_models():
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "models"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "segmenter " in out.stdout and "classifier " in out.stdout


def test_tile_starts_cover_every_pixel_with_overlap():
    from edge.digitize.traceprob_tflite import tile_starts

    for length in (100, 256, 257, 1050, 1485):
        starts = tile_starts(length, 256, 32)
        assert starts[0] == 0
        assert max(starts) == max(0, length - 256)
        covered = np.zeros(max(length, 256), bool)
        for s in starts:
            lo = 0 if s == 0 else s + 32
            hi = s + 256 if s + 256 >= max(length, 256) else s + 256 - 32
            covered[lo:hi] = True
        assert covered[:length].all(), length


def test_shipped_segmenter_separates_trace_from_grid():
    """The int8 segmenter, through the tiled runtime, scores trace pixels high and grid/paper low."""
    import cv2

    from convert.segmenter.data import rectify, work_px_per_mm
    from convert.segmenter.ship import MODEL_NAME
    from convert.synth import render_page, synthetic_ecg
    from edge.digitize.traceprob_tflite import make_tflite_trace_probability

    m = load_model(MODEL_NAME, num_threads=2)
    assert m.is_quantized
    assert Path(m.path).stat().st_size <= 1_000_000
    page = render_page(synthetic_ecg(seed=3), 500, layout="3x4+1", mode="clean", seed=3, grid="red")
    img, mask = rectify(page.image, page.mask, page.meta, work_px_per_mm())
    fn = make_tflite_trace_probability(m)
    prob = fn(img)
    assert prob.shape == img.shape[:2] and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    trace = mask.astype(bool)
    # grid lines: dark-ish reddish pixels well away from any trace pixel
    far = cv2.dilate(mask, np.ones((9, 9), np.uint8)) == 0
    b, g, r = (img[..., i].astype(int) for i in range(3))
    grid = far & (r - g > 25)
    assert trace.sum() > 1000 and grid.sum() > 1000
    assert np.median(prob[trace]) > 0.5
    assert np.median(prob[grid]) < 0.1 and np.percentile(prob[grid], 95) < 0.3
    assert prob[trace].mean() - prob[grid].mean() > 0.4
    assert (prob[far] > 0.5).mean() < 0.02
