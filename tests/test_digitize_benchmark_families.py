"""The digitizer benchmark's foreign families (convert.evaluate_digitizer, convert.kit_pages,
convert.real_photos): family parsing, the clear skip without the kit tool or the real photos,
scoring against NaN-masked ground truth in another lead order, a real-photo-like folder made by
the project's own renderer read end to end, and - where ../shared/tools/kit-render is present -
one ecg-image-kit page rendered, cached and read end to end."""

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from convert.evaluate_digitizer import (
    FAMILIES,
    REAL_FAMILY,
    PageScore,
    device_verdicts,
    family_seed,
    parse_families,
    plan_tasks,
    real_photo_lines,
    real_verdict_lines,
    score_kit_page,
    score_real_photo,
    summarize,
    write_results,
)
from convert.kit_pages import (
    cache_key,
    family_options,
    kit_command,
    missing_kit,
    render_kit_page,
)
from convert.real_photos import load_real_photos, missing_real_data, read_truth
from convert.synth import render_page, synthetic_ecg
from edge.layouts import LEAD_NAMES
from edge.snr import MAX_SNR_DB, record_snr
from edge.wfdb_io import write_record

REPO = Path(__file__).resolve().parents[1]
KIT_RENDER = REPO.parent / "shared" / "tools" / "kit-render"
FS = 500


def _masked_3x4(sig: np.ndarray) -> np.ndarray:
    """Challenge-style truth of a 3x4+1 page: each lead only in its 2.5 s column, II in full."""
    truth = np.full_like(sig, np.nan)
    cols = [("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6")]
    q = len(sig) // 4
    for c, leads in enumerate(cols):
        for name in leads:
            j = LEAD_NAMES.index(name)
            truth[c * q : (c + 1) * q, j] = sig[c * q : (c + 1) * q, j]
    j2 = LEAD_NAMES.index("II")
    truth[:, j2] = sig[:, j2]
    return truth


def _ptbxl_like(root: Path, ecg_id: int = 7) -> Path:
    """A one-record PTB-XL-like folder (database CSV + 500 Hz WFDB record), fold 10."""
    rec = root / "records500" / "00000" / f"{ecg_id:05d}_hr"
    rec.parent.mkdir(parents=True)
    write_record(rec, synthetic_ecg(seed=ecg_id), FS, list(LEAD_NAMES))
    with open(root / "ptbxl_database.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ecg_id", "strat_fold", "filename_hr"])
        w.writerow([ecg_id, 10, f"records500/00000/{ecg_id:05d}_hr"])
    return root


def test_parse_families_keeps_order_and_names_the_choices():
    assert parse_families("real, kit-clean,clean,real") == ["real", "kit-clean", "clean"]
    assert set(FAMILIES) >= {"clean", "scan", "photo", "kit-clean", "kit-distorted", "real"}
    with pytest.raises(ValueError, match="unknown family 'kit'.*kit-distorted"):
        parse_families("clean,kit")
    with pytest.raises(ValueError, match="no family"):
        parse_families(" , ")


def test_kit_options_are_fixed_per_family_and_key_the_cache():
    clean, dist = family_options("kit-clean"), family_options("kit-distorted")
    for opt in ("--mask_unplotted_samples", "--store_config", "--num_columns", "--full_mode"):
        assert opt in clean and opt in dist
    for opt in ("--wrinkles", "--augment", "-rot", "-noise"):
        assert opt in dist and opt not in clean
    assert cache_key("a/00009_hr", "kit-clean", 93) != cache_key("a/00009_hr", "kit-distorted", 93)
    assert cache_key("a/00009_hr", "kit-clean", 93) != cache_key("a/00009_hr", "kit-clean", 94)
    cmd = kit_command("kit-render", Path("in"), Path("out"), "kit-clean", 93)
    assert cmd[:5] == ["kit-render", "in", "out", "-se", "93"] and cmd[5:] == list(clean)
    with pytest.raises(ValueError, match="not a kit family"):
        family_options("clean")


def test_families_skip_clearly_without_kit_or_real_photos(tmp_path):
    data = _ptbxl_like(tmp_path / "ptbxl")
    absent = tmp_path / "no-such-kit-render"
    assert "not found" in missing_kit(absent) and "--kit-render" in missing_kit(absent)
    assert "photos.csv" in missing_real_data(tmp_path) and "--real" in missing_real_data(tmp_path)
    tasks, skipped = plan_tasks(
        ["clean", "kit-clean", "kit-distorted", "real"],
        data_dir=str(data),
        folds=[10],
        kit_render=str(absent),
        real_dir=str(tmp_path / "no-photos"),
    )
    assert set(tasks) == {"clean"} and len(tasks["clean"]) == 1
    assert set(skipped) == {"kit-clean", "kit-distorted", "real"}
    assert str(absent) in skipped["kit-clean"] and "photos.csv" in skipped["real"]
    # Without PTB-XL data the fold families skip, and the real family does not need it.
    _, skipped = plan_tasks(["kit-clean"], data_dir=str(tmp_path), folds=[10], kit_render=None)
    assert "no PTB-XL data" in skipped["kit-clean"]


def test_command_skips_absent_families_and_exits_2_when_none_can_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "convert.cli", "evaluate-digitizer", "--families", "real,kit-clean"]
        + ["--real", str(tmp_path), "--kit-render", str(tmp_path / "kit-render")]
        + ["--data", str(tmp_path), "--timing-reps", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "family real skipped" in proc.stderr and "photos.csv" in proc.stderr
    assert "family kit-clean skipped" in proc.stderr and "no family could run" in proc.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "convert.cli", "evaluate-digitizer", "--families", "kit"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert bad.returncode == 2 and "unknown family 'kit'" in bad.stderr


def test_nan_masked_truth_scores_only_printed_samples_in_any_lead_order(tmp_path):
    sig = synthetic_ecg(seed=3)
    truth = _masked_3x4(sig)
    # A truth record in the kit's order with its spelling of the augmented leads.
    order = ["III", "AVF", "V3", "V6", "II", "AVL", "V2", "V5", "I", "AVR", "V1", "V4"]
    idx = [LEAD_NAMES.index({"AVF": "aVF", "AVL": "aVL", "AVR": "aVR"}.get(n, n)) for n in order]
    write_record(tmp_path / "truth", truth[:, idx], FS, order)
    back, fs = read_truth(tmp_path / "truth")
    assert fs == FS and back.shape == (len(sig), 12)
    assert np.array_equal(np.isfinite(back), np.isfinite(truth))
    assert np.nanmax(np.abs(back - truth)) < 0.002  # WFDB's 1 uV steps
    # An estimate that is right where the page prints and wrong everywhere else is perfect.
    est = sig + np.where(np.isfinite(truth), 0.0, 5.0)
    scores = record_snr(back, est, FS, LEAD_NAMES)
    assert set(scores) == set(LEAD_NAMES)
    assert all(s.snr_db > 40.0 and s.coverage == 1.0 for s in scores.values())
    assert scores["II"].snr_db == pytest.approx(MAX_SNR_DB, abs=10)
    # Half of a lead's printed column missing halves its score; a wrong column scores low.
    j = LEAD_NAMES.index("V1")
    half = est.copy()
    half[2500:3125, j] = np.nan
    s = record_snr(back, half, FS, LEAD_NAMES)["V1"]
    assert s.coverage == pytest.approx(0.5, abs=0.01)
    assert s.snr_db == pytest.approx(s.raw_snr_db / 2, rel=0.01)
    wrong = est.copy()
    wrong[:, j] = sig[:, LEAD_NAMES.index("V6")]
    assert record_snr(back, wrong, FS, LEAD_NAMES)["V1"].snr_db < 3.0


def _real_like_folder(root: Path, ecg_id: int = 12) -> Path:
    """A folder shaped like ecg-paper-dev, made by the project's own renderer: one photo of a
    3x4+1 page, its NaN-masked truth and a photos.csv row with labels and attributes."""
    (root / "images").mkdir(parents=True)
    (root / "signals").mkdir()
    sig = synthetic_ecg(seed=ecg_id)
    page = render_page(sig, FS, layout="3x4+1", mode="photo", seed=ecg_id, photo_size=(1800, 1350))
    cv2.imwrite(str(root / "images" / f"{ecg_id:05d}_hr-0.jpg"), page.image)
    write_record(root / "signals" / f"{ecg_id:05d}_hr", page.truth, FS, list(LEAD_NAMES))
    with open(root / "photos.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_filename", "record", "labels", "rotation", "fold", "wrinkle"])
        w.writerow([f"{ecg_id:05d}_hr-0.jpg", f"{ecg_id:05d}_hr", "NORM, CD", 1, 0, 1])
    return root


def test_real_family_reads_a_photo_folder_end_to_end(tmp_path):
    folder = _real_like_folder(tmp_path / "photos")
    photos = load_real_photos(folder)
    assert [p.name for p in photos] == ["00012_hr-0.jpg"]
    assert photos[0].labels == ("NORM", "CD") and photos[0].record_number == 12
    r = score_real_photo(photos[0], "classical", save_dir=str(tmp_path / "out"), overlays=True)
    assert not r.error, r.error
    assert r.family == REAL_FAMILY and r.layout_found == "3x4+1"
    assert set(r.lead_snr) == set(LEAD_NAMES) and r.snr_db > 8.0
    assert r.seconds > 0 and 20.0 < r.peak_rss_mb < 4000.0
    assert r.attributes["rotation"] == "1" and r.attributes["labels"] == "NORM,CD"
    assert (tmp_path / "out" / "real" / "00012_hr-0.hea").is_file()
    assert (tmp_path / "out" / "real" / "00012_hr-0.overlay.png").is_file()
    lines = real_photo_lines([r])
    assert "00012_hr-0.jpg" in lines and "rotation" in lines and "3x4+1" in lines
    # What the device would do with the reading (judged in the parent, from the reading the
    # worker sends back): a clear page is kept and classified.
    device_verdicts([r])
    assert "_reading" not in r.meta
    v = r.meta["verdict"]
    assert v["kept"] and not v["refused"], v
    assert set(v["probabilities"]) == {"NORM", "MI", "STTC", "CD", "HYP"}
    assert "1 kept as records, 1 classified" in real_verdict_lines([r])
    write_results([r], str(tmp_path / "r.json"), str(tmp_path / "r.csv"))
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert rows[0]["name"] == "00012_hr-0.jpg" and float(rows[0]["V6"]) == pytest.approx(
        r.lead_snr["V6"], abs=1e-3
    )


def test_summary_gives_the_six_figures_per_family():
    full = {n: 10.0 for n in LEAD_NAMES}
    res = [
        PageScore(1, "real", 10.0, full, 2.0, "3x4+1", "3x4+1", peak_rss_mb=210.0, name="a.jpg"),
        PageScore(2, "real", 2.0, full, 4.0, "3x4+1", "3x4+1", peak_rss_mb=250.0, name="b.jpg"),
        PageScore(3, "real", 0.0, {}, 1.0, "3x4+1", "", "no_traces: x", peak_rss_mb=90.0),
    ]
    text = summarize(res, ["real", "kit-clean"])
    row = next(ln for ln in text.splitlines() if ln.startswith("real "))
    pages, failed, mean, median, below, med_s, max_s, rss = row.split()[1:]
    assert (pages, failed, below) == ("3", "1", "2")
    assert float(mean) == pytest.approx(4.0) and float(median) == pytest.approx(2.0)
    assert float(med_s) == pytest.approx(2.0) and float(max_s) == pytest.approx(4.0)
    assert rss == "250" and "kit-clean" not in text


@pytest.mark.needs_data
@pytest.mark.skipif(
    missing_kit(KIT_RENDER) is not None, reason=f"ecg-image-kit wrapper not found at {KIT_RENDER}"
)
def test_kit_page_rendered_cached_and_read_end_to_end(tmp_path):
    data = _ptbxl_like(tmp_path / "ptbxl", ecg_id=7)
    record = data / "records500" / "00000" / "00007_hr"
    cache = tmp_path / "cache"
    r = score_kit_page(
        7, "kit-clean", str(record), "classical", kit_render=str(KIT_RENDER), kit_cache=str(cache)
    )
    assert not r.error, r.error
    assert r.layout_found == "3x4+1" and set(r.lead_snr) == set(LEAD_NAMES)
    assert r.snr_db > 6.0
    (page_dir,) = (cache / "kit-clean").iterdir()
    png = page_dir / "00007_hr-0.png"
    stamp = png.stat().st_mtime_ns
    truth, fs = read_truth(page_dir / "00007_hr")
    assert fs == FS and np.isfinite(truth[:, LEAD_NAMES.index("II")]).all()
    assert np.isfinite(truth[:, LEAD_NAMES.index("V1")]).mean() == pytest.approx(0.25)
    again = render_kit_page(
        record, "kit-clean", family_seed(7, "kit-clean"), kit_render=KIT_RENDER, cache_dir=cache
    )
    assert again.image_path == png and png.stat().st_mtime_ns == stamp  # cached, not re-rendered
    assert "--mask_unplotted_samples" in (page_dir / "kit-command.txt").read_text()
