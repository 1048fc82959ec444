"""`ecg-convert render` end to end in a real subprocess: files on disk, truth readable as WFDB,
one-line errors with exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.layouts import LEAD_NAMES
from edge.wfdb_io import read_record

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data" / "ptbxl500").resolve()


def _render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "convert.cli", "render", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_render_synthetic_writes_page_and_truth(tmp_path):
    out = tmp_path / "pages" / "page.png"
    r = _render(
        "synthetic:3", "--layout", "3x4+1", "--out", str(out), "--seed", "4", "--dpi", "150"
    )
    assert r.returncode == 0, r.stderr
    for suffix in (".png", ".hea", ".dat", ".json", ".mask.png"):
        assert (tmp_path / "pages" / f"page{suffix}").is_file(), suffix
    meta = json.loads((tmp_path / "pages" / "page.json").read_text())
    assert meta["layout"] == "3x4+1" and meta["seed"] == 4 and meta["dpi"] == 150
    assert meta["image_file"] == "page.png" and meta["truth_record"] == "page"
    img = cv2.imread(str(out))
    mask = cv2.imread(str(tmp_path / "pages" / "page.mask.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape[:2] == mask.shape == (meta["image_size"][1], meta["image_size"][0])
    assert set(np.unique(mask)) == {0, 255}
    rec = read_record(tmp_path / "pages" / "page")
    assert rec.lead_names == list(LEAD_NAMES) and rec.fs == 500
    # the truth on disk is what render_page gives for the same signal and seed (to WFDB's 1 uV step)
    page = render_page(synthetic_ecg(seed=3), 500.0, layout="3x4+1", seed=4, dpi=150)
    np.testing.assert_array_equal(np.isnan(rec.signals), np.isnan(page.truth))
    ok = np.isfinite(page.truth)
    assert np.max(np.abs(rec.signals[ok] - page.truth[ok])) <= 0.0005 + 1e-9
    assert np.array_equal(img, page.image)


def test_render_photo_jpeg_with_size(tmp_path):
    out = tmp_path / "photo.jpg"
    r = _render(
        "synthetic",
        "--photo",
        "--photo-size",
        "1200x900",
        "--out",
        str(out),
        "--layout",
        "6x2",
        "--grid",
        "green",
        "--speed",
        "50",
        "--gain",
        "5",
    )
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(out))
    assert img.shape[:2] == (900, 1200)
    meta = json.loads((tmp_path / "photo.json").read_text())
    assert meta["mode"] == "photo" and meta["speed_mm_s"] == 50 and meta["gain_mm_mv"] == 5
    assert meta["style"]["grid"] == "green" and len(meta["distortion"]["homography"]) == 3
    rec = read_record(tmp_path / "photo")
    assert np.isnan(rec.signals[2500:]).all()  # 50 mm/s: 5 s fit on the page
    assert (
        np.isfinite(rec.signals[:1250, 0]).all() and np.isfinite(rec.signals[1250:2500, 6]).all()
    )  # I | V1


def test_render_style_and_distortion_options_and_remake(tmp_path):
    a = tmp_path / "a.png"
    r = _render(
        "synthetic:2",
        "--scan",
        "--seed",
        "9",
        "--dpi",
        "100",
        "--set",
        "grid_extent=page",
        "--set",
        "label_position=below",
        "--distort",
        "rotation_deg=2.5",
        "--distort",
        "folds=[]",
        "--out",
        str(a),
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["style"]["grid_extent"] == "page" and meta["style"]["label_position"] == "below"
    assert meta["distortion"]["rotation_deg"] == 2.5 and meta["distortion"]["folds"] == []
    b = tmp_path / "b.png"
    r = _render("synthetic:2", "--from-meta", str(tmp_path / "a.json"), "--out", str(b))
    assert r.returncode == 0, r.stderr
    assert np.array_equal(cv2.imread(str(a)), cv2.imread(str(b)))


@pytest.mark.parametrize(
    "args,needle",
    [
        (["does/not/exist", "--out", "{tmp}/x.png"], "no WFDB header"),
        (["synthetic", "--layout", "5x5", "--out", "{tmp}/x.png"], "unknown layout"),
        (["synthetic:abc", "--out", "{tmp}/x.png"], "not an integer"),
        (["synthetic:1:torsades", "--out", "{tmp}/x.png"], "unknown synthetic ECG kind"),
        (["synthetic", "--photo", "--photo-size", "big", "--out", "{tmp}/x.png"], "WxH"),
        (["synthetic", "--out", "{tmp}/x.gif"], ".png or .jpg"),
        (["synthetic", "--dpi", "5", "--out", "{tmp}/x.png"], "dpi"),
        (["synthetic", "--set", "colour=red", "--out", "{tmp}/x.png"], "unknown style option"),
        (["synthetic", "--set", "font=gothic", "--out", "{tmp}/x.png"], "unknown font"),
        (
            ["synthetic", "--scan", "--distort", "tilt=3", "--out", "{tmp}/x.png"],
            "unknown scan parameter",
        ),
        (
            ["synthetic", "--from-meta", "{tmp}/none.json", "--out", "{tmp}/x.png"],
            "cannot use page meta",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    r = _render(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith("ecg-convert render: ") and needle in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_broken_record_is_one_line_exit_2(tmp_path):
    (tmp_path / "rec.hea").write_text("rec 12 500 5000\nthis is not a header\n")
    r = _render(str(tmp_path / "rec"), "--out", str(tmp_path / "x.png"))
    assert (
        r.returncode == 2
        and len(r.stderr.strip().splitlines()) == 1
        and "Traceback" not in r.stderr
    )


@pytest.mark.needs_data
@pytest.mark.skipif(not (DATA / "records500").is_dir(), reason=f"PTB-XL subset not found at {DATA}")
def test_render_real_ptbxl_record(tmp_path):
    rec_path = DATA / "records500" / "00000" / "00001_hr"
    r = _render(
        str(rec_path), "--layout", "3x4+1", "--out", str(tmp_path / "p.png"), "--dpi", "100"
    )
    assert r.returncode == 0, r.stderr
    src = read_record(rec_path)
    truth = read_record(tmp_path / "p")
    ii = LEAD_NAMES.index("II")
    np.testing.assert_allclose(
        truth.signals[:, ii], src.signals[:, src.lead_names.index("II")], atol=0.0011
    )
    v1 = LEAD_NAMES.index("V1")  # V1 printed in column 2: 5.0-7.5 s
    assert (
        np.isnan(truth.signals[:2500, v1]).all() and np.isfinite(truth.signals[2500:3750, v1]).all()
    )
