"""Digitizer tests: pages rendered by the project's synthesizer (convert.synth) from
synthetic_ecg, digitized by edge.digitize, scored with edge.snr against the printed truth."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.digitize import WORK_PX_PER_MM, digitize
from edge.digitize.extract import dp_paths, refine_path
from edge.digitize.grid import measure_grid
from edge.digitize.page import rectify_page
from edge.digitize.pulses import find_pulse
from edge.digitize.traceprob import (
    classical_trace_probability,
    get_trace_probability,
    pen_fainter_than_text,
)
from edge.errors import BadInputError
from edge.layouts import LEAD_NAMES
from edge.snr import mean_snr, record_snr
from edge.wfdb_io import read_record

FS = 500
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ecg():
    return synthetic_ecg(seed=3, fs=FS)


@pytest.fixture(scope="module")
def clean_page(ecg):
    return render_page(ecg, FS, layout="3x4+1", mode="clean", seed=3)


@pytest.fixture(scope="module")
def clean_result(clean_page):
    return digitize(clean_page.image, trace_model="classical")


def _snr(page, result):
    return mean_snr(record_snr(page.truth, result.signals.astype(float), FS, LEAD_NAMES))


def test_clean_page_end_to_end(clean_page, clean_result):
    r = clean_result
    assert r.signals.shape == (10 * FS, 12) and r.signals.dtype == np.float32
    assert r.lead_names == list(LEAD_NAMES)
    assert r.layout == "3x4+1"
    assert r.gain_mm_mv == 10.0 and r.speed_mm_s == 25.0
    assert r.details["gain_source"] == "calibration pulse"
    assert r.px_per_mm["x"] == pytest.approx(clean_page.meta["px_per_mm"], rel=0.005)
    assert r.px_per_mm["work"] == WORK_PX_PER_MM
    assert _snr(clean_page, r) > 17.0
    # Lead II comes from the rhythm strip: shown for the whole 10 s; V1 only in its column.
    ii, v1 = r.signals[:, LEAD_NAMES.index("II")], r.signals[:, LEAD_NAMES.index("V1")]
    assert np.isfinite(ii).mean() > 0.95
    assert 0.2 < np.isfinite(v1).mean() < 0.3
    assert r.confidence > 0.7 and min(r.lead_confidence.values()) > 0.5
    assert r.overlay.shape == r.rectified.shape
    doc = json.loads(r.to_json())
    assert doc["layout"] == "3x4+1" and "page" in doc["timings_s"] and doc["px_per_mm"]["x"] > 0


def test_segment_boundaries_do_not_mix_two_leads(clean_page, clean_result):
    """Where one lead's 2.5 s segment gives way to the next, the printer draws a vertical
    connector between their traces: neither lead's signal. The samples beside it must stay with
    their own lead (before, the last ~10 ms of a lead dived towards the next one's first value),
    and the connector's own column is left out, not guessed."""
    est = clean_result.signals.astype(float)
    truth = clean_page.truth
    near, inner = [], []
    for name in ("I", "aVR", "V1", "III", "aVF", "V3"):
        j = LEAD_NAMES.index(name)
        e, t = est[:, j], truth[:, j]
        shown = np.flatnonzero(np.isfinite(t))
        a, b = shown[0], shown[-1] + 1
        off = np.nanmedian(t[a:b] - e[a:b])
        err = np.abs(e + off - t)
        for edge, side in ((a, 1), (b, -1)):
            if edge in (0, 10 * FS):
                continue  # the strip's own start and end
            idx = edge + side * np.arange(12)  # the 24 ms beside the boundary
            if side < 0:
                idx = idx - 1
            assert not np.isfinite(e[idx[:2]]).any()  # the connector's column: left out
            near.append(np.nanmax(err[idx]))
        inner.append(np.nanpercentile(err[a + 25 : b - 25], 99))
    assert max(near) < max(0.05, 1.5 * max(inner))


@pytest.mark.parametrize("layout", ["6x2", "12x1", "3x4+3"])
def test_other_layouts_are_recognised(ecg, layout):
    page = render_page(ecg, FS, layout=layout, mode="clean", seed=4)
    r = digitize(page.image, trace_model="classical")
    assert r.layout == layout
    assert _snr(page, r) > 10.0


@pytest.mark.parametrize("gain", [5.0, 20.0])
def test_gain_read_from_calibration_pulse(ecg, gain):
    page = render_page(ecg, FS, layout="3x4+1", mode="clean", seed=5, gain_mm_mv=gain, grid="green")
    r = digitize(page.image, trace_model="classical")
    assert r.gain_mm_mv == gain
    assert _snr(page, r) > 14.0


def test_overrides_are_used(clean_page):
    r = digitize(clean_page.image, layout="3x4+1", gain=20.0, speed=25.0, trace_model="classical")
    assert r.gain_mm_mv == 20.0 and r.details["gain_source"] == "override"
    # Twice the gain -> half the amplitude: the estimate must shrink accordingly.
    ref = clean_page.truth[:, LEAD_NAMES.index("II")]
    est = r.signals[:, LEAD_NAMES.index("II")]
    ok = np.isfinite(ref) & np.isfinite(est)
    assert np.std(est[ok]) == pytest.approx(0.5 * np.std(ref[ok]), rel=0.15)
    with pytest.raises(ValueError):
        digitize(clean_page.image, layout="5x5")


def test_upside_down_page_is_turned(clean_page):
    turned = np.ascontiguousarray(clean_page.image[::-1, ::-1])
    r = digitize(turned, trace_model="classical")
    assert any("upside down" in w for w in r.warnings)
    assert _snr(clean_page, r) > 15.0


def test_pluggable_trace_model(clean_page):
    calls = []

    def counting(img):
        calls.append(img.shape)
        return classical_trace_probability(img)

    r = digitize(clean_page.image, trace_model=counting)
    assert len(calls) == 1 and r.details["trace_model"] == "counting"
    fn, name = get_trace_probability("classical")
    assert name == "classical" and fn is classical_trace_probability
    with pytest.raises(ValueError):
        get_trace_probability("nonsense")


def test_blank_and_non_ecg_images_are_refused():
    with pytest.raises(BadInputError) as ei:
        digitize(np.full((800, 1100, 3), 250, np.uint8))
    assert ei.value.code == "blank_image"
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8), (0, 0), 6)
    with pytest.raises(BadInputError) as ei:
        digitize(photo, trace_model="classical")
    assert ei.value.code in ("not_an_ecg", "no_traces", "layout_unknown")


# ---- stages alone -------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [0.0, 1.5])
def test_grid_period_and_rotation(angle):
    from convert.synth.grid import render_grid
    from convert.synth.style import GRID_STYLES

    k = 150 / 25.4
    w, h = int(297 * k), int(210 * k)
    img = render_grid(
        w,
        h,
        k,
        (10 * k, 25 * k, w - 10 * k, h - 12 * k),
        GRID_STYLES["blue"],
        minor_w_mm=0.1,
        major_w_mm=0.25,
    )
    if angle:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderValue=(255, 255, 255))
    g = measure_grid(img)
    assert g.source == "grid"
    assert g.px_per_mm_x == pytest.approx(k, rel=0.003) and g.px_per_mm_y == pytest.approx(
        k, rel=0.003
    )
    assert g.angle_deg == pytest.approx(angle, abs=0.1)


@pytest.mark.parametrize("style", ["red", "grey", "bw", "thermal"])
def test_grid_period_not_taken_from_regular_beats(style):
    """Bold QRS strokes of simultaneous leads line up down the page at every beat; their periodic
    ink must not out-score the grid's own period (any grid colour, even black lines)."""
    from convert.synth.grid import render_grid
    from convert.synth.style import GRID_STYLES

    k = 5.0
    w, h = int(297 * k), int(210 * k)
    img = render_grid(
        w,
        h,
        k,
        (10 * k, 25 * k, w - 10 * k, h - 12 * k),
        GRID_STYLES[style],
        minor_w_mm=0.1,
        major_w_mm=0.25,
    )
    for row in range(4):
        y0, x, pts = (45 + row * 42) * k, 15.0, []
        while x < 285:  # flat line, a 12 mm QRS spike, a T wave: one beat every 14.6 mm
            pts += [
                (x, 0),
                (x + 1.0, 0),
                (x + 1.5, -12),
                (x + 2.2, 3),
                (x + 2.8, 0),
                (x + 6, -2),
                (x + 8, 0),
            ]
            x += 14.6
        xy = np.int32(np.round([(px * k, y0 + py * k) for px, py in pts]))
        cv2.polylines(img, [xy], False, (20, 20, 20), 2, cv2.LINE_AA)
    g = measure_grid(img)
    assert g.source == "grid"
    assert g.px_per_mm_x == pytest.approx(k, rel=0.01) and g.px_per_mm_y == pytest.approx(
        k, rel=0.01
    )


def test_grid_fundamental_yields_only_to_its_own_subharmonic():
    """Harmonic-comb scores over candidate 5 mm frequencies. A lower candidate scoring nearly as
    well is taken only when the best is its 2nd, 3rd ... harmonic (the best was twice the true
    fundamental); a plateau at the band's low edge that is no subharmonic (fold-9 photo 94, a
    faded thermal grid, read 7.0 px/mm for 6.1 and then rescaled from the trace span: 3.3 dB) is
    another pattern."""
    from edge.digitize.grid import lowest_strong

    freqs = np.linspace(0.028, 0.036, 161)
    score = np.full(161, 1.0)
    best = 90
    score[best] = 5.9  # the 5 mm lines at 1/30.3 px
    score[1:5] = 5.0  # 0.85 of it, at 1/35.5 px: not a subharmonic
    assert lowest_strong(score, freqs) == best
    # Twice the true fundamental: the true one (half the frequency) scores nearly as well.
    freqs2 = np.linspace(0.014, 0.036, 441)
    score2 = np.full(441, 1.0)
    i_best = int(np.argmin(np.abs(freqs2 - 0.033)))
    i_half = int(np.argmin(np.abs(freqs2 - 0.0165)))
    score2[i_best], score2[i_half] = 5.9, 5.0
    assert lowest_strong(score2, freqs2) == i_half


def test_no_grid_falls_back_to_page_size():
    img = np.full((700, 990, 3), 255, np.uint8)
    cv2.putText(img, "no grid here", (100, 300), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 3)
    g = measure_grid(img)
    assert g.source == "page_size" and g.px_per_mm_x == pytest.approx(990 / 297)


def test_photocopied_scan_keeps_its_grid_scale(ecg):
    """A photocopy left only this pink grid's 5 mm lines; a scan fills the frame, so the page is
    225-340 mm wide and neither their subharmonic nor an edge of a wider search is the scale."""
    from edge.digitize.page import rectify_page

    page = render_page(ecg, FS, layout="3x4+1", mode="scan", seed=4831, randomize=True)
    assert page.meta["distortion"]["photocopy"] and page.meta["style"]["grid"] == "pink"
    rect = rectify_page(page.image)
    assert rect.grid.source == "grid"
    assert rect.source_px_per_mm[0] == pytest.approx(page.meta["px_per_mm"], rel=0.01)


def test_jpeg_blocks_of_a_gridless_scan_are_not_taken_for_the_grid(ecg):
    """Without a grid, the 8 px blocks of a JPEG file are the strongest periodic pattern."""
    from edge.digitize.page import rectify_page

    page = render_page(ecg, FS, layout="3x4+1", mode="clean", seed=5, grid="none", dpi=100)
    ok, buf = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, 60])
    rect = rectify_page(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    assert rect.source_px_per_mm[0] == pytest.approx(page.meta["px_per_mm"], rel=0.05)


def test_upright_page_is_not_turned_for_one_pulse_like_row_end(ecg):
    """A row ending in a 3 mm square dip looks like a calibration pulse when turned, but not a
    standard one (1 mV at 5/10/20 mm/mV): a page without pulses stays as printed."""
    page = render_page(ecg, FS, layout="3x4+1", mode="clean", seed=7, calibration=False)
    img = page.image.copy()
    k = page.meta["px_per_mm"]
    seg = page.meta["leads"]["II"][-1]  # the rhythm strip
    x1, y0 = seg["box"][2], seg["baseline_y"]
    xa = x1 - 12 * k  # a quiet last 30 mm, the dip 7.5-12 mm from the end
    cv2.rectangle(
        img,
        (int(x1 - 30 * k), int(y0 - 12 * k)),
        (int(x1 + 2 * k), int(y0 + 12 * k)),
        (255, 255, 255),
        -1,
    )
    pts = np.array(
        [
            (x1 - 30 * k, y0),
            (xa, y0),
            (xa, y0 + 3 * k),
            (xa + 4.5 * k, y0 + 3 * k),
            (xa + 4.5 * k, y0),
            (x1, y0),
        ]
    )
    cv2.polylines(
        img, [np.round(pts).astype(np.int32)], False, (0, 0, 0), max(1, int(0.3 * k)), cv2.LINE_AA
    )
    r = digitize(img, trace_model="classical")
    assert not any("upside down" in w for w in r.warnings)
    assert r.details["page"]["orientation"]["pulses_flipped"] >= 1
    assert _snr(page, r) > 12.0


def test_dp_follows_spike_to_its_tip_and_keeps_its_row():
    """Two rows drawn with OpenCV; row 1 has a tall spike reaching into row 0's band."""
    h, w = 300, 400
    prob = np.zeros((h, w), np.float32)
    x = np.arange(w)
    y0 = 100 + 5 * np.sin(x / 20)
    y1 = 200 - 90 * np.exp(-0.5 * ((x - 200) / 3.0) ** 2)  # spike up to y=110 at x=200
    for yy in (y0, y1):
        pts = np.stack([x, yy], 1).round().astype(np.int32)
        canvas = np.zeros((h, w), np.uint8)
        cv2.polylines(canvas, [pts], False, 255, 2)
        prob = np.maximum(prob, canvas.astype(np.float32) / 255)
    paths = dp_paths(prob, [100.0, 200.0], half=80)
    tr = [refine_path(prob, p) for p in paths]
    assert np.nanmax(np.abs(tr[0].y - y0)) < 2.5  # row 0 ignores the neighbour's spike
    assert np.nanmin(tr[1].py) < 114  # row 1 reaches the tip (110)
    assert np.nanmax(np.abs(tr[1].y[:150] - 200)) < 2


def test_find_pulse_reads_height_and_width():
    k = WORK_PX_PER_MM
    y = np.full(400, 100.0)
    y[20 : 20 + int(5 * k)] = 100 - 10 * k  # 10 mm high, 5 mm wide
    p = find_pulse(y, 0, k)
    assert p is not None and p.height_px / k == pytest.approx(10.0, abs=0.2)
    assert find_pulse(np.full(400, 100.0), 0, k) is None


# ---- command line -------------------------------------------------------------------------


def test_cli_batch_writes_outputs_and_continues_after_bad_files(tmp_path, clean_page):
    good = tmp_path / "page.png"
    cv2.imwrite(str(good), clean_page.image)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    trunc = tmp_path / "trunc.jpg"
    ok, buf = cv2.imencode(".jpg", clean_page.image)
    trunc.write_bytes(buf.tobytes()[: len(buf) // 3])
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((600, 800, 3), 255, np.uint8))
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "digitize",
            str(empty),
            str(good),
            str(trunc),
            str(blank),
            "--out",
            str(out),
            "--trace-model",
            "classical",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    err = proc.stderr.splitlines()
    assert any("empty.jpg" in line and "empty" in line for line in err)
    assert any("trunc.jpg" in line and "truncated" in line for line in err)
    assert any("blank.png" in line and "blank" in line for line in err)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["page.dat", "page.hea", "page.json", "page.overlay.png"]
    rec = read_record(out / "page")
    assert rec.fs == 500 and rec.lead_names == list(LEAD_NAMES) and rec.signals.shape == (5000, 12)
    doc = json.loads((out / "page.json").read_text())
    assert doc["layout"] == "3x4+1" and doc["gain_mm_mv"] == 10.0
    assert set(doc["lead_confidence"]) == set(LEAD_NAMES)
    assert cv2.imread(str(out / "page.overlay.png")) is not None
    ref = clean_page.truth
    assert mean_snr(record_snr(ref, rec.signals, 500, LEAD_NAMES)) > 17.0


def test_cli_options(tmp_path, clean_page):
    good = tmp_path / "p.jpg"
    cv2.imwrite(str(good), clean_page.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    out = tmp_path / "o"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "digitize",
            str(good),
            "--out",
            str(out),
            "--fs",
            "250",
            "--gain",
            "10",
            "--no-overlay",
            "--trace-model",
            "classical",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (out / "p.overlay.png").exists()
    rec = read_record(out / "p")
    assert rec.fs == 250 and rec.signals.shape == (2500, 12)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "digitize",
            str(good),
            "--out",
            str(out / "x"),
            "--layout",
            "9x9",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 2 and "unknown layout" in proc.stderr and not (out / "x").exists()


def test_too_blurry_photo_is_refused_with_advice(clean_page):
    blurred = cv2.GaussianBlur(clean_page.image, (0, 0), 8)  # ~1 mm blur: traces unreadable
    with pytest.raises(BadInputError) as ei:
        digitize(blurred, trace_model="classical")
    assert ei.value.code == "too_blurry" and "focus" in ei.value.hint


def _models_with_segmenter_gain(tmp_path, gain):
    """A models directory holding the shipped segmenter with `gain` as its recorded SNR gain."""
    import json as _json
    import shutil

    src = REPO / "models"
    man = _json.loads((src / "manifest.json").read_text())
    seg = [e for e in man["models"] if e["name"] == "segmenter"]
    if not seg:
        pytest.skip("no segmenter shipped in models/")
    d = tmp_path / f"models_{gain}"
    d.mkdir()
    shutil.copy(src / seg[0]["file"], d / seg[0]["file"])
    entry = dict(seg[0], metrics={"digitizer_snr_gain_db": gain})
    (d / "manifest.json").write_text(_json.dumps({"schema": 1, "models": [entry]}))
    return d


def test_auto_uses_learned_segmenter_only_when_recorded_as_no_worse(tmp_path, monkeypatch):
    from edge.digitize.traceprob import learned_or_none, learned_preferred

    monkeypatch.setenv("ECG_EDGE_MODELS", str(tmp_path))
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": 1, "models": []}))
    assert learned_preferred() is False and learned_or_none() is None
    monkeypatch.setenv("ECG_EDGE_MODELS", str(_models_with_segmenter_gain(tmp_path, -3.0)))
    assert learned_preferred() is False and learned_or_none() is None
    monkeypatch.setenv("ECG_EDGE_MODELS", str(_models_with_segmenter_gain(tmp_path, 0.5)))
    assert learned_preferred() is True and learned_or_none() is not None
    assert get_trace_probability("auto")[1] == "classical"  # the first reading of a scan


@pytest.mark.slow
def test_auto_reads_camera_photos_fused_and_scans_classically(tmp_path, monkeypatch):
    """With the shipped segmenter, "auto" reads a photo (page found in a wider frame) with the
    fused map and a scan with the classical one; a segmenter not recorded as helping is unused."""
    ecg = synthetic_ecg(seed=21, fs=FS)
    photo = render_page(
        ecg, FS, layout="3x4+1", mode="photo", seed=21, randomize=True, photo_size=(2016, 1512)
    )
    scan = render_page(ecg, FS, layout="3x4+1", mode="scan", seed=21, randomize=True)
    r = digitize(photo.image, fs=FS)
    assert r.details["page"]["found_outline"] and r.details["trace_model"] == "fused"
    assert _snr(photo, r) > 3.0
    assert digitize(scan.image, fs=FS).details["trace_model"] == "classical"
    monkeypatch.setenv("ECG_EDGE_MODELS", str(_models_with_segmenter_gain(tmp_path, -1.0)))
    assert digitize(photo.image, fs=FS).details["trace_model"] == "classical"


def test_fused_map_vetoes_handwriting_the_classical_map_takes_for_ink():
    """Pen notes written across the rows look like ink to the classical estimate; the segmenter
    in the fused map must reject most of them while keeping the trace."""
    from convert.segmenter.data import rectify
    from edge.digitize.traceprob import fused_trace_probability

    page = render_page(synthetic_ecg(seed=4, fs=FS), FS, layout="3x4+1", mode="clean", seed=4)
    img, trace_mask = rectify(page.image, page.mask, page.meta, WORK_PX_PER_MM)
    trace_before = trace_mask.astype(bool)
    notes = np.zeros(img.shape[:2], np.uint8)
    rng = np.random.default_rng(4)
    h, w = img.shape[:2]
    for _ in range(6):  # looping cursive-like strokes, 0.4 mm black pen
        x0, y0 = rng.uniform(0.1 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)
        t = np.linspace(0, 4 * np.pi, 200)
        pts = np.stack([x0 + 12 * t + 10 * np.sin(3 * t), y0 + 14 * np.cos(2 * t)], 1)
        cv2.polylines(notes, [np.round(pts).astype(np.int32)], False, 255, 2, cv2.LINE_AA)
    note_px = (notes > 128) & ~cv2.dilate(
        trace_before.astype(np.uint8), np.ones((7, 7), np.uint8)
    ).astype(bool)
    img = img.copy()  # a new page: the maps are cached per image array
    img[notes > 128] = (45, 40, 40)
    classical, fused = classical_trace_probability(img), fused_trace_probability(img)
    assert note_px.sum() > 2000
    assert np.mean(classical[note_px] > 0.5) > 0.8  # the classical map is fooled
    assert np.mean(fused[note_px] > 0.5) < 0.5 * np.mean(classical[note_px] > 0.5)
    kept = trace_before & (notes == 0)
    assert np.mean(fused[kept] > 0.3) > 0.8  # the trace stays


def test_steep_strokes_keep_their_timing_at_high_resolution():
    """At 300 DPI a QRS stroke is a few pixels from its neighbour and inks several columns over
    its whole height; reading it row by row (stroke centres) must keep the SNR of a clean page
    high. Column-by-column reading scored 17.9 dB on this page."""
    ecg5 = synthetic_ecg(seed=5, fs=FS)
    page = render_page(ecg5, FS, layout="3x4+1", mode="clean", seed=5, dpi=300)
    r = digitize(page.image, trace_model="classical")
    assert _snr(page, r) > 19.0


def test_broken_row_is_rescued_when_a_found_gap_is_twice_the_pitch():
    """Rows at 300, 560 and 1070 found, a broken row at 815 weak: the 510 px gap is two pitches."""
    from edge.digitize.rows import add_rows_at_pitch

    assert add_rows_at_pitch([300.0, 560.0, 1070.0], [815, 420]) == [300.0, 560.0, 815.0, 1070.0]
    # Evenly spaced rows: a weak line at half the pitch (text) is not a row.
    assert add_rows_at_pitch([300.0, 560.0, 820.0], [430]) == [300.0, 560.0, 820.0]


def test_rows_end_where_two_agree_not_where_glare_cut_one():
    from edge.digitize.span import common_end

    k = WORK_PX_PER_MM
    assert common_end([1657, 1656, 1239, 848], k) == pytest.approx(1656.5)
    assert common_end([1500, 1200, 900], k) == 1200.0  # no two agree: median


def test_faded_row_is_found_at_the_low_threshold():
    """Four trace rows; the bottom one washed out by an exposure gradient (prob ~0.2)."""
    h, w = 1100, 1600
    prob = np.zeros((h, w), np.float32)
    x = np.arange(w)
    for r, (yc, level) in enumerate([(200, 1.0), (450, 1.0), (700, 1.0), (950, 0.2)]):
        y = yc + 8 * np.sin(x / 37.0 + r) + 40 * (np.mod(x, 160) < 3)
        canvas = np.zeros((h, w), np.uint8)
        cv2.polylines(canvas, [np.stack([x, y], 1).round().astype(np.int32)], False, 255, 2)
        prob = np.maximum(prob, canvas.astype(np.float32) / 255 * level)
    from edge.digitize.rows import find_rows

    rows = find_rows(prob, WORK_PX_PER_MM)
    assert len(rows.centres) == 4 and abs(rows.centres[-1] - 950) < 15


def _rows_prob(
    rows: list[tuple[float, float, float]], h: int = 1300, w: int = 1600, pen: int = 2
) -> np.ndarray:
    """A trace map: one wavy row with a spike every 160 px per (y, x_from, x_to) fraction of width."""
    prob = np.zeros((h, w), np.float32)
    x = np.arange(w)
    for r, (yc, f0, f1) in enumerate(rows):
        y = yc + 8 * np.sin(x / 37.0 + r) + 40 * (np.mod(x, 160) < 3)
        keep = (x >= f0 * w) & (x < f1 * w)
        canvas = np.zeros((h, w), np.uint8)
        for part in np.split(
            np.flatnonzero(keep), np.flatnonzero(np.diff(np.flatnonzero(keep)) > 1) + 1
        ):
            if len(part) > 1:
                cv2.polylines(
                    canvas,
                    [np.stack([x[part], y[part]], 1).round().astype(np.int32)],
                    False,
                    255,
                    pen,
                )
        prob = np.maximum(prob, canvas.astype(np.float32) / 255)
    return prob


def test_row_washed_out_over_whole_leads_is_found_where_the_spacing_predicts_it():
    """Glare wiped the middle of the top row (only its first and last lead remain, too short for
    the run test); the rows' spacing predicts it and it is ink like theirs, so it is a row. The
    run test alone found 3 rows: a 3x4+1 page read as 3x4 with every lead on the wrong row."""
    from edge.digitize.rows import find_rows

    prob = _rows_prob([(250, 0.05, 0.3), (500, 0.05, 0.95), (750, 0.05, 0.95), (1000, 0.05, 0.95)])
    prob[:, int(0.75 * 1600) :] = np.maximum(
        prob[:, int(0.75 * 1600) :], _rows_prob([(250, 0.75, 0.95)])[:, int(0.75 * 1600) :]
    )
    rows = find_rows(prob, WORK_PX_PER_MM)
    assert len(rows.centres) == 4 and abs(rows.centres[0] - 250) < 15


def test_page_with_whole_leads_washed_out_of_the_top_row_keeps_its_layout(ecg, clean_page):
    """aVR and half of V1 erased from a printed 3x4+1 page (glare, a faded print head): the top
    row is still found, so every other lead stays on its own row. Without it the page read as
    3x4 at 2.6 dB."""
    img = clean_page.image.copy()
    paper = np.median(img.reshape(-1, 3), axis=0)
    for name in ("aVR", "V1"):
        x0, y0, x1, y1 = (int(v) for v in clean_page.meta["leads"][name][0]["box"])
        if name == "V1":
            x1 = (x0 + x1) // 2
        ink = (
            cv2.dilate(
                (clean_page.mask[y0:y1, x0:x1] > 0).astype(np.uint8), np.ones((5, 5), np.uint8)
            )
            > 0
        )
        img[y0:y1, x0:x1][ink] = paper
    r = digitize(img, trace_model="classical")
    assert r.layout == "3x4+1"
    assert _snr(clean_page, r) > 15.0


def test_top_row_with_only_its_last_leads_left_is_still_a_row(ecg, clean_page):
    """Glare over the left of the top row: I, aVR and the first part of V1 are gone, so the row's
    ink covers under half of the columns the other rows cover. The spacing still predicts it and
    what is left is trace, so the page keeps its 3x4+1 layout: without the row it read as 3x4,
    every lead named from the row above its own (fold-9 photo 419: 1.1 dB)."""
    img = clean_page.image.copy()
    paper = np.median(img.reshape(-1, 3), axis=0)
    for name, part in (("I", 1.0), ("aVR", 1.0), ("V1", 0.4)):
        x0, y0, x1, y1 = (int(v) for v in clean_page.meta["leads"][name][0]["box"])
        x1 = x0 + int(part * (x1 - x0))
        ink = (
            cv2.dilate(
                (clean_page.mask[y0:y1, x0:x1] > 0).astype(np.uint8), np.ones((5, 5), np.uint8)
            )
            > 0
        )
        img[y0:y1, x0:x1][ink] = paper
    r = digitize(img, trace_model="classical")
    assert r.layout == "3x4+1"
    snr = record_snr(clean_page.truth, r.signals.astype(float), FS, LEAD_NAMES)
    for name in ("II", "aVF", "V2", "V6"):  # leads of the other rows stay on their own rows
        assert snr[name].snr_db > 12.0, name
    j = {n: i for i, n in enumerate(r.lead_names)}
    assert not np.isfinite(r.signals[:, j["aVR"]]).any() or r.lead_confidence["aVR"] < 0.3


def _erase_leads(page, names) -> np.ndarray:
    """The page's image with the ink of `names` painted over with paper (glare, a cut-off edge)."""
    img = page.image.copy()
    paper = np.median(img.reshape(-1, 3), axis=0)
    for name in names:
        for box in page.meta["leads"][name]:
            x0, y0, x1, y1 = (int(v) for v in box["box"])
            ink = (
                cv2.dilate(
                    (page.mask[y0:y1, x0:x1] > 0).astype(np.uint8), np.ones((5, 5), np.uint8)
                )
                > 0
            )
            img[y0:y1, x0:x1][ink] = paper
    return img


def test_page_without_its_top_row_is_read_as_3x4_plus_1_with_those_leads_missing(clean_page):
    """The whole top row gone: three rows remain, as on a 3x4 page, but the third repeats the
    first's lead II and the limb-lead laws of a 3x4 page fail, so the rows are II/aVL/V2/V5,
    III/aVF/V3/V6 and the rhythm strip, and I, aVR, V1, V4 are reported missing, not filled from
    the wrong row."""
    r = digitize(_erase_leads(clean_page, ("I", "aVR", "V1", "V4")), trace_model="classical")
    assert r.layout == "3x4+1"
    assert any("top row" in w for w in r.warnings)
    snr = record_snr(clean_page.truth, r.signals.astype(float), FS, LEAD_NAMES)
    for name in ("II", "aVL", "V2", "V5", "III", "aVF", "V3", "V6"):
        assert snr[name].snr_db > 12.0, name
    j = {n: i for i, n in enumerate(r.lead_names)}
    for name in ("I", "aVR", "V1", "V4"):
        assert not np.isfinite(r.signals[:, j[name]]).any() and r.lead_confidence[name] == 0.0


def test_3x4_page_whose_leads_I_and_III_look_alike_stays_3x4():
    """A frontal axis of +60 degrees makes lead III a copy of lead I: the third row's first 2.5 s
    repeat the first row's, as a rhythm strip would, but the limb-lead laws hold, so the page is
    a 3x4 page, read as printed."""
    sig = synthetic_ecg(seed=5, fs=FS)
    j = {n: i for i, n in enumerate(LEAD_NAMES)}
    lead_i = sig[:, j["I"]]
    sig[:, j["III"]] = lead_i
    sig[:, j["II"]] = 2 * lead_i
    sig[:, j["aVR"]] = -1.5 * lead_i
    sig[:, j["aVL"]] = 0.0 * lead_i
    sig[:, j["aVF"]] = 1.5 * lead_i
    page = render_page(sig, FS, layout="3x4", mode="clean", seed=5)
    r = digitize(page.image, trace_model="classical")
    assert r.layout == "3x4"
    assert not any("top row" in w for w in r.warnings)
    assert _snr(page, r) > 15.0


def test_a_straight_line_or_a_sliver_where_a_row_would_be_is_not_a_row():
    """A ruled line (grid border, fold) one pitch below the rows is long but straight; a short
    stub of ink is too little of the rows' width: neither is a row."""
    from edge.digitize.rows import find_rows

    prob = _rows_prob([(250, 0.05, 0.95), (500, 0.05, 0.95), (750, 0.05, 0.95)])
    cv2.line(prob, (80, 1000), (1520, 1000), 1.0, 2)
    assert len(find_rows(prob, WORK_PX_PER_MM).centres) == 3
    prob = np.maximum(
        _rows_prob([(250, 0.05, 0.95), (500, 0.05, 0.95), (750, 0.05, 0.95)]),
        _rows_prob([(1000, 0.05, 0.2)]),
    )
    assert len(find_rows(prob, WORK_PX_PER_MM).centres) == 3


def test_header_text_one_pitch_above_the_rows_is_not_a_row():
    """Two lines of header text sit one pitch above the first row of a thick pen (a scan's
    classical map keeps text): as thin as those traces and covering as many columns as a
    washed-out row, but crossing each column several times where a trace crosses it once."""
    from edge.digitize.rows import complete_rows

    prob = _rows_prob(
        [(330, 0.05, 0.95), (500, 0.05, 0.95), (670, 0.05, 0.95), (840, 0.05, 0.95)], pen=8
    )
    for y, text in (
        (150, "ID: 713827   DOB: 1952-03-16   Sex: F      QT/QTc 411/383 ms  P-R-T axes 29 56"),
        (180, "Recorded: 2024-12-12 17:30  Ward: CCU     Nonspecific T wave abnormality"),
    ):
        cv2.putText(prob, text, (90, y), cv2.FONT_HERSHEY_DUPLEX, 0.95, 1.0, 2)
    rows = complete_rows(prob, [330.0, 500.0, 670.0, 840.0], WORK_PX_PER_MM)
    assert rows == [330.0, 500.0, 670.0, 840.0]


def test_rows_whose_steep_strokes_break_the_run_test_are_found_midway_and_beyond():
    """Only the first and third of four large-amplitude rows pass the run test; the missing two
    sit midway and one pitch beyond, where the spacing puts them."""
    from edge.digitize.rows import complete_rows

    prob = _rows_prob([(250, 0.05, 0.95), (520, 0.05, 0.95), (790, 0.05, 0.95), (1060, 0.05, 0.95)])
    rows = complete_rows(prob, [250.0, 790.0], WORK_PX_PER_MM)
    assert len(rows) == 4 and np.all(np.abs(np.array(rows) - [250, 520, 790, 1060]) < 15)


def test_stray_line_between_rows_is_dropped():
    from edge.digitize.rows import drop_stray_row

    assert drop_stray_row([244.0, 447.0, 509.0, 773.0, 1036.0]) == [244.0, 509.0, 773.0, 1036.0]
    # Evenly spaced rows (a 5-row page as printed) are kept as they are.
    assert drop_stray_row([200.0, 400.0, 600.0, 800.0, 1000.0]) == [
        200.0,
        400.0,
        600.0,
        800.0,
        1000.0,
    ]


def test_qrs_timing_ignores_pixel_jitter():
    """A sharpened, noisy photo leaves 1-2 px jitter on flat stretches: only the 10 mm spikes are
    QRS complexes, so the RR read is theirs (0.8 s), not the jitter's."""
    from edge.digitize.pulses import qrs_timing

    k = WORK_PX_PER_MM
    px_per_s = 25.0 * k
    n = int(8 * px_per_s)
    rng = np.random.default_rng(1)
    y = 300.0 + rng.integers(-2, 3, n).astype(float)
    y[::15] += 6.0  # sharpening halos: 1 mm blips, 10 per second
    for t in np.arange(0.4, 8.0, 0.8):
        c = int(t * px_per_s)
        y[c - 2 : c + 3] -= np.array([20, 45, 60, 45, 20])
    qrs, rr, beats = qrs_timing(y, px_per_s)
    assert beats == 10 and rr == pytest.approx(0.8, abs=0.02)


def test_unsharp_restores_edge_contrast():
    from edge.digitize.sharpness import sharpness, unsharp

    img = np.full((200, 300, 3), 240, np.uint8)
    cv2.line(img, (20, 100), (280, 110), (40, 40, 40), 2, cv2.LINE_AA)
    soft = cv2.GaussianBlur(img, (0, 0), 1.2)
    assert sharpness(unsharp(soft, 1.0)) > 1.3 * sharpness(soft)


def test_text_lines_among_rows_are_left_out():
    """Eight 'rows': four traces 44 mm apart and four short text lines between them."""
    from edge.digitize.rows import regular_subset

    k = WORK_PX_PER_MM
    rows = [300.0, 564.0, 828.0, 1092.0]
    text = [120.0, 420.0, 700.0, 1180.0]
    lengths = {c: 1500 for c in rows} | {c: 300 for c in text}
    assert regular_subset(sorted(rows + text), lengths, k) == rows
    assert regular_subset(sorted(text), {c: 300 for c in text}, k) is None


def test_overlay_draws_the_extracted_qrs_heights(clean_result):
    """The overlay is what a person checks the record against: its line must reach the R peaks
    and S troughs the samples were read from (the column centres cut steep QRS strokes in half)."""
    r = clean_result
    k, gain = r.px_per_mm["work"], r.gain_mm_mv
    row = r.details["rows"][1]  # II | aVL | V2 | V5; II comes from the strip
    ta = r.details["time_axis_px"]
    seg = np.concatenate(
        [r.signals[int(2.6 * FS) : int(9.9 * FS), LEAD_NAMES.index(n)] for n in ("aVL", "V2", "V5")]
    )
    seg = seg[np.isfinite(seg)]
    top_exp, bot_exp = (
        row["baseline_y"] - seg.max() * gain * k,
        row["baseline_y"] - seg.min() * gain * k,
    )
    ov = r.overlay.astype(int)
    b, g, rr = ov[..., 0], ov[..., 1], ov[..., 2]
    magenta = (rr - g > 60) & (b - g > 60)  # row 1's colour; lead names are drawn blue
    x0, x1 = int(ta["t0"] + 2.6 * ta["per_s"]), int(ta["t0"] + 9.9 * ta["per_s"])
    ys = np.flatnonzero(magenta[:, x0:x1].any(axis=1))
    assert abs(ys.min() - top_exp) <= 2.5 and abs(ys.max() - bot_exp) <= 2.5


def test_faint_grid_scale_is_taken_where_pulse_and_span_agree():
    """A faint grid read at a wrong period (not an octave off) makes the 10 s strip and the
    1 mV pulse come out short by the same factor; one ruler alone is not trusted."""
    from edge.digitize.scale import scale_from_pulse_and_span

    assert scale_from_pulse_and_span(201.6, [8.03, 7.93, 8.0]) == pytest.approx(0.80, abs=0.01)
    assert scale_from_pulse_and_span(187.2, [14.8, 14.82]) == pytest.approx(
        0.74, abs=0.01
    )  # 20 mm/mV
    assert scale_from_pulse_and_span(250.0, [10.0, 10.0]) is None  # the grid was right
    assert scale_from_pulse_and_span(200.0, [10.0, 10.0]) is None  # an 8 s strip, grid right
    assert scale_from_pulse_and_span(200.0, []) is None  # no pulse: no second ruler
    assert scale_from_pulse_and_span(125.0, [5.0]) is None  # octave: handled elsewhere


def test_ruler_straight_lead_in_and_out_are_not_read_as_trace():
    """A baseline lying on a dark grid line is followed along it before and after the trace: the
    rows then read 290 mm. Cutting the perfectly flat ends brings them to the printed 250 mm;
    rows of the standard length, or flat ends that do not explain the excess, stay as read."""
    from edge.digitize.extract import RowTrace
    from edge.digitize.rows import SelectedRows
    from edge.digitize.span import printed_span

    k = WORK_PX_PER_MM
    x = np.arange(1900, dtype=np.float64)

    def row(a, sig0, sig1, b):
        y = np.full(len(x), np.nan)
        y[a : b + 1] = 300.0
        t = x[sig0:sig1]
        y[sig0:sig1] = 300.0 - 40 * np.exp(-(((t % 150) - 75) ** 2) / 20.0) + 3 * np.sin(t / 9.0)
        y[a + 7 : a + 10] = np.nan  # a gap in the flat line does not end it
        return RowTrace(y, np.ones(len(x)), 2.0)

    def rows(ext, sig_end=1680):
        traces = [row(60, 180, sig_end, 1800) for _ in range(3)]
        return SelectedRows([300.0, 560.0, 820.0], 260.0, traces, [ext] * 3, [None] * 3)

    w: list[str] = []
    span = printed_span(rows((60, 1800)), k, w)
    assert abs(span.x_first - 180) <= 2 and abs(span.x_end - 1680) <= 2 and len(w) == 1
    # The standard length: untouched.
    span = printed_span(rows((180, 1680)), k, [])
    assert (span.x_first, span.x_end) == (180.0, 1680.0)
    # Flat ends that leave 200 mm: not this case, untouched.
    span = printed_span(rows((60, 1800), sig_end=1380), k, [])
    assert (span.x_first, span.x_end) == (60.0, 1800.0)


def _failing_first(calls: list):
    """A trace-probability plug-in that sees no ink on its first page and reads normally after."""

    def prob(img):
        calls.append(img.copy())
        if len(calls) == 1:
            return np.zeros(img.shape[:2], np.float32)
        return classical_trace_probability(img)

    return prob


def test_soft_page_is_read_again_unsharpened_when_the_first_reading_fails():
    from edge.imageio import load_image

    img = load_image(REPO / "examples" / "photo.jpg")  # a soft camera photo: sharpened first
    calls: list = []
    r = digitize(img, trace_model=_failing_first(calls))
    assert len(calls) == 2
    assert not np.array_equal(calls[0], calls[1])  # sharpened, then the page as rectified
    assert r.details["reread"]["kept"] == "unsharpened"
    assert r.details["reread"]["estimated_snr_db"]["sharpened"] == "no_traces"
    assert r.details["reread"]["estimated_snr_db"]["unsharpened"] == r.details["estimated_snr_db"]
    assert r.timings["reread"] > 0 and r.timings["total"] >= r.timings["page"] + r.timings["reread"]
    assert r.details["estimated_snr_db"] is not None and r.details["estimated_snr_db"] > 3.0
    assert np.isfinite(r.signals).mean() > 0.15


def test_consistent_or_crisp_readings_are_not_read_twice(clean_page):
    from edge.imageio import load_image

    calls: list = []
    r = digitize(
        load_image(REPO / "examples" / "photo.jpg"),
        trace_model=lambda im: (calls.append(1), classical_trace_probability(im))[1],
    )
    assert len(calls) == 1 and "reread" not in r.details and "reread" not in r.timings
    # A crisp print is never sharpened, so a failed reading is final.
    calls2: list = []
    with pytest.raises(BadInputError) as e:
        digitize(clean_page.image, trace_model=_failing_first(calls2))
    assert e.value.code == "no_traces" and len(calls2) == 1


def test_faint_pen_is_read_again_with_the_ink_level_of_its_traces():
    """A light grey pen beside black header text: the ink threshold set by the text drops most of
    the traces and the leads disagree; the reading with the threshold set by the traces is kept
    because the leads agree with it, and it is closer to the printed signals."""
    sig = synthetic_ecg(seed=3, fs=500)
    page = render_page(sig, 500, mode="scan", seed=5, trace_bgr=(195, 195, 195), trace_width_mm=0.2)
    assert pen_fainter_than_text(rectify_page(page.image).image)
    r = digitize(page.image, trace_model="classical")
    assert r.details["reread"]["kept"] == "faint pen"
    assert r.details["estimated_snr_db"] == r.details["reread"]["estimated_snr_db"]["faint pen"]
    # The same page read with the text-set threshold only (a plug-in gets no faint-pen reading).
    plain = digitize(page.image, trace_model=lambda im: classical_trace_probability(im))
    assert "faint pen" not in plain.details["reread"]["estimated_snr_db"]
    kept, before = (
        mean_snr(record_snr(page.truth, x.signals, 500, LEAD_NAMES)) for x in (r, plain)
    )
    assert kept > before + 2.0, (kept, before)


@pytest.mark.slow
def test_faint_pen_photo_is_read_again_with_the_fused_map():
    """A grey pen in a camera photo: "auto" reads it with the fused map, and the faint-pen
    reading (the classical half's threshold set by the traces) is fused too, and kept."""
    sig = synthetic_ecg(seed=3, fs=500)
    page = render_page(
        sig,
        500,
        mode="photo",
        seed=5,
        trace_bgr=(150, 150, 150),
        trace_width_mm=0.2,
        photo_size=(2016, 1512),
    )
    r = digitize(page.image)
    assert r.details["trace_model"] == "fused"
    tried = r.details["reread"]["estimated_snr_db"]
    assert "faint pen" in tried and r.details["reread"]["kept"] == "faint pen", tried
    # The fused map without the faint-pen reading: the leads agree with it less (its limb leads
    # cannot even be checked against each other here), and the kept reading is a real reading.
    # Its true SNR is not compared: a reading that failed scores by chance, and the chance moves
    # with the synthesizer's pixels under another numpy.
    first = digitize(page.image, trace_model="fused")
    assert first.estimated_snr_db is None or first.estimated_snr_db < r.estimated_snr_db
    kept = mean_snr(record_snr(page.truth, r.signals, 500, LEAD_NAMES))
    assert r.estimated_snr_db is not None and kept > 1.5, (kept, r.estimated_snr_db)


def test_separator_tick_and_pulse_edge_at_segment_ends_are_not_signal():
    """A separator tick at a boundary (the path runs up the printed tick and back) and a pulse's
    falling edge at a row's start leave the segment's own level for a few samples: they are left
    out. A segment whose trace runs on at its ends keeps every sample but the connector's."""
    from edge.digitize.assemble import segment_samples

    fs = 500.0
    t = np.arange(1250) / fs
    ecg = 0.3 * np.sin(2 * np.pi * 1.2 * t) * np.exp(-(((t % 0.8) - 0.4) ** 2) / 0.002)
    plain = segment_samples(ecg, True, True, 2, 0.0, fs)
    assert np.isnan(plain[:2]).all() and np.isnan(plain[-2:]).all()
    assert np.isfinite(plain[2:-2]).all()  # nothing else is cut where the trace runs on
    marked = ecg.copy()
    marked[:4] = 1.0  # the tick at the boundary: 8 ms at 1 mV
    marked[-6:-1] = -0.8  # another at the far end, a sample short of it
    cut = segment_samples(marked, True, True, 2, 0.0, fs)
    assert np.isnan(cut[:4]).all() and np.isnan(cut[-6:]).all()
    assert np.isfinite(cut[4:-6]).all()
    first = ecg.copy()
    first[:3] = 1.0  # the pulse's falling edge at the start of the row's first lead
    out = segment_samples(first, False, True, 2, 0.0, fs)
    assert np.isnan(out[:3]).all() and np.isfinite(out[3:-2]).all()
