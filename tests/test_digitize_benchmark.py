"""The digitizer benchmark (convert.evaluate_digitizer / ecg-convert evaluate-digitizer): scoring
one synthesized record end to end, the summary table, and the command on the real data when present."""

import subprocess
import sys
from pathlib import Path

import pytest

from convert.evaluate_digitizer import PageScore, score_page, summarize
from convert.synth import synthetic_ecg
from edge.layouts import LEAD_NAMES
from edge.wfdb_io import read_record

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ptbxl500"


def test_score_page_clean_and_save(tmp_path):
    sig = synthetic_ecg(seed=11)
    r = score_page(11, "clean", sig, 500, "classical", save_dir=str(tmp_path))
    assert not r.error
    assert set(r.lead_snr) == set(LEAD_NAMES)
    assert r.snr_db > 15.0 and r.layout_found == "3x4+1" and r.seconds > 0
    rec = read_record(tmp_path / "clean" / "11")
    assert rec.signals.shape == (5000, 12)
    assert (tmp_path / "clean" / "11.json").exists()


def test_failed_image_counts_zero_and_summary_table():
    res = [
        PageScore(1, "clean", 20.0, {n: 20.0 for n in LEAD_NAMES}, 1.0, "3x4+1", "3x4+1"),
        PageScore(2, "clean", 0.0, {n: 0.0 for n in LEAD_NAMES}, 0.5, "3x4+1", "", "no_traces: x"),
    ]
    text = summarize(res, ["clean"])
    assert "clean" in text and "10.00" in text  # mean of 20 and 0
    assert "failures:" in text and "no_traces" in text


@pytest.mark.needs_data
@pytest.mark.skipif(
    not (DATA / "ptbxl_database.csv").is_file(), reason=f"PTB-XL subset not found at {DATA}"
)
def test_command_on_real_records(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "convert.cli",
            "evaluate-digitizer",
            "--data",
            str(DATA),
            "--folds",
            "10",
            "--families",
            "clean",
            "--limit",
            "1",
            "--timing-reps",
            "0",
            "--trace-model",
            "classical",
            "--save-dir",
            str(tmp_path),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "mean SNR dB" in proc.stdout and "peak RSS" in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("clean "))
    assert float(line.split()[3]) > 8.0
    assert len(list((tmp_path / "clean").glob("*.hea"))) == 1


def test_command_refuses_missing_data(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "convert.cli", "evaluate-digitizer", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and "no PTB-XL data" in proc.stderr
