"""`ecg-edge digitize` on odd and hostile inputs, as a user runs it (real subprocesses, real
files): odd names give records that read back and never overwrite each other; bombs, special
files, non-ECG and damaged images give exit code 2, one line each and no output files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import wfdb

from convert.synth import render_page, synthetic_ecg
from edge.layouts import LEAD_NAMES
from tests import hostile_files as hf

REPO = Path(__file__).resolve().parents[1]
FS = 500


@pytest.fixture(scope="module")
def page_image():
    return render_page(synthetic_ecg(seed=3, fs=FS), FS, layout="3x4+1", mode="clean", seed=3).image


def _digitize(args, cwd, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "digitize", "--trace-model", "classical", *args],
        capture_output=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=timeout,
    )


def test_odd_names_read_back_and_never_overwrite_each_other(tmp_path, page_image):
    cv2.imwrite(str(tmp_path / "a.png"), page_image)
    png = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.jpg").write_bytes(hf.jpeg_with_trailer(page_image))  # a motion photo
    (tmp_path / "-dash.png").write_bytes(png)
    (tmp_path / "-x.png").write_bytes(png)
    odd = "WhatsApp Image 2024-03-01 at 10.15.32 (1);#$(x) ü\n"
    odd += "y" * (247 - len(odd)) + ".png"  # 251 characters
    (tmp_path / odd).write_bytes(png)
    args = ["--out", "out", "a.png", "a.jpg", "./-x.png", odd, "--", "-dash.png"]
    proc = _digitize(args, tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    lines = proc.stdout.decode().splitlines()
    assert len([line for line in lines if ".hea" in line]) == 5  # one line per image
    heas = sorted((tmp_path / "out").glob("*.hea"))
    assert len(heas) == 5
    sources = set()
    for hea in heas:
        stem = hea.with_suffix("")
        rec = wfdb.rdrecord(str(stem))
        assert rec.sig_len == 5000 and [n.upper() for n in rec.sig_name] == [
            n.upper() for n in LEAD_NAMES
        ]
        doc = json.loads(stem.with_name(stem.name + ".json").read_text())
        assert doc["record_name"] == stem.name and doc["acceptance"]["verdict"] == "accepted"
        sources.add(doc["source_name"])
        assert len(stem.name) <= 69 and stem.with_name(stem.name + ".overlay.png").exists()
    assert sources == {"a.png", "a.jpg", "-x.png", odd, "-dash.png"}
    assert (tmp_path / "out/a.hea").exists()  # a safe name is kept as it was
    # run again: each input finds its own outputs, nothing is added or renamed
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    proc = _digitize(["--out", "out", "a.jpg", "a.png"], tmp_path)
    assert proc.returncode == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before


def test_hostile_non_ecg_and_damaged_files_make_no_record(tmp_path, page_image):
    d = tmp_path / "in"
    d.mkdir()
    for name, make in hf.BOMBS.items():
        (d / name).write_bytes(make())
    hf.make_fifo(d / "fifo.jpg")
    hf.make_symlink(d / "zero.jpg", "/dev/zero")
    hf.make_symlink(d / "urandom.png", "/dev/urandom")
    (d / "folder.jpg").mkdir()
    (d / "random.jpg").write_bytes(os.urandom(20_000))
    rng = np.random.default_rng(0)
    cv2.imwrite(str(d / "noise.png"), rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8))
    checker = ((np.indices((900, 1200)).sum(axis=0) // 40) % 2 * 255).astype(np.uint8)
    cv2.imwrite(str(d / "checker.png"), checker)  # a perfect grid, square "traces"
    grey = page_image.copy()
    grey[int(0.6 * grey.shape[0]) :] = 128  # lower 40 % grey: a damaged page
    cv2.imwrite(str(d / "grey40.png"), grey)
    (d / "cut.jpg").write_bytes(hf.jpeg_grey_lower_part(page_image))  # cut, end marker added
    files = sorted(p.name for p in d.iterdir())
    proc = _digitize(["--out", str(tmp_path / "out"), *files], d, timeout=600)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert proc.stdout.decode() == ""
    lines = err.splitlines()
    assert lines[-1] == f"0 of {len(files)} images digitized"
    assert len(lines) == len(files) + 1  # one line per file, nothing from the decoders
    for name in files:
        assert sum(f": {name}: " in line for line in lines) == 1, name
    said = {line.split(": ")[1]: line for line in lines[:-1]}
    assert "not an ECG" in said["noise.png"]
    assert "8 of 12 leads" in said["grey40.png"] and "retake" in said["grey40.png"]
    assert "truncated" in said["cut.jpg"]
    assert "retake" in said["checker.png"] or "not an ECG" in said["checker.png"]
    assert "FIFO" in said["fifo.jpg"] and "device" in said["zero.jpg"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_keep_rejected_writes_the_reading_marked_not_confident(tmp_path, page_image):
    grey = page_image.copy()
    grey[int(0.6 * grey.shape[0]) :] = 128
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    proc = _digitize(["--out", "out", "--keep-rejected", "grey.png"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.decode().count("\n") == 1 and "kept as" in proc.stderr.decode()
    rec = wfdb.rdrecord(str(tmp_path / "out/grey"))
    assert rec.comments[0].startswith("NOT CONFIDENT")
    doc = json.loads((tmp_path / "out/grey.json").read_text())
    assert doc["acceptance"]["verdict"] == "retake" and doc["confidence"] <= 0.1
