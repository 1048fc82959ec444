"""The README's main command, `ecg-edge demo`, as a user runs it: a real subprocess on the
bundled example photo, real WFDB output checked against the page's ground truth."""

import json
import subprocess
import sys
from pathlib import Path

from convert.synth import remake_page, synthetic_ecg
from convert.synth.make_examples import PHOTO
from edge.layouts import LEAD_NAMES
from edge.snr import mean_snr, record_snr
from edge.wfdb_io import read_record

ROOT = Path(__file__).resolve().parents[1]


def test_demo_digitizes_and_interprets_the_bundled_photo(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "layout 3x4+1" in r.stdout and "clinician must confirm" in r.stdout
    rec = read_record(tmp_path / "photo")
    assert rec.lead_names == list(LEAD_NAMES) and rec.fs == 500 and rec.signals.shape == (5000, 12)
    # Ground truth of the example, re-made from the settings it was rendered with.
    meta = json.loads((ROOT / "examples" / "photo.json").read_text())
    truth = remake_page(synthetic_ecg(seed=PHOTO["signal_seed"]), 500.0, meta).truth
    snr = mean_snr(record_snr(truth, rec.signals, 500, LEAD_NAMES))
    assert snr > 10.0, f"demo photo digitized at only {snr:.1f} dB"
    report = json.loads((tmp_path / "photo.interpretation.json").read_text())
    assert set(report["probabilities"]) == {"NORM", "MI", "STTC", "CD", "HYP"}
    assert all(0.0 <= p <= 1.0 for p in report["probabilities"].values())
    assert 60 <= report["measurements"]["heart_rate_bpm"] <= 120
    assert (tmp_path / "photo.overlay.png").stat().st_size > 10_000


def test_demo_on_a_missing_file_is_one_line_exit_2(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "demo",
            str(tmp_path / "nope.jpg"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())
