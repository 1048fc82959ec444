"""Round-trip tests of the printout synthesizer: what is drawn is where the ground truth says."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from convert.synth import GRID_STYLES, PAGE_SIZES_MM, render_page, synthetic_ecg
from edge.layouts import LAYOUTS, LEAD_NAMES

FS = 500.0


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    return synthetic_ecg(seconds=10, fs=FS, seed=11, noise_mv=0.0)


def _runs(col: np.ndarray) -> list[tuple[int, int]]:
    on = np.concatenate([[0], (col > 0).astype(np.int8), [0]])
    d = np.diff(on)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _trace_errors(page, signals: np.ndarray, max_slope_px: float = 0.3) -> np.ndarray:
    """For every column of every segment where the trace is nearly flat, the distance (px) between
    the centre of the nearest mask run and the y the signal says."""
    m = page.meta
    k, g, v = m["px_per_mm"], m["gain_mm_mv"], m["speed_mm_s"]
    px_per_s = v * k
    errs = []
    for lead, segs in m["leads"].items():
        j = LEAD_NAMES.index(lead)
        for s in segs:
            x0, _, x1, _ = s["box"]
            for c in range(int(np.ceil(x0)) + 3, int(x1) - 3):
                t = s["t0_s"] + (c - s["x0_px"]) / px_per_s
                idx = t * FS
                val = np.interp(idx, np.arange(len(signals)), signals[:, j])
                nxt = np.interp(idx + FS / px_per_s, np.arange(len(signals)), signals[:, j])
                prv = np.interp(idx - FS / px_per_s, np.arange(len(signals)), signals[:, j])
                if max(abs(nxt - val), abs(prv - val)) * g * k > max_slope_px:
                    continue
                ye = s["baseline_y"] - val * g * k
                runs = _runs(page.mask[:, c])
                if not runs:
                    errs.append(np.inf)
                    continue
                centres = [(a + b - 1) / 2 for a, b in runs]
                errs.append(min(centres, key=lambda y: abs(y - ye)) - ye)
    return np.array(errs)


def test_synthetic_ecg_limb_relations_and_variety():
    a = synthetic_ecg(seed=1)
    assert a.shape == (5000, 12) and np.isfinite(a).all()
    lead_i, II, III, aVR, aVL, aVF = (a[:, i] for i in range(6))
    np.testing.assert_allclose(III, II - lead_i, atol=1e-12)
    np.testing.assert_allclose(aVR, -(lead_i + II) / 2, atol=1e-12)
    np.testing.assert_allclose(aVL, lead_i - II / 2, atol=1e-12)
    np.testing.assert_allclose(aVF, II - lead_i / 2, atol=1e-12)
    assert 0.3 < np.ptp(II) < 4.0 and 0.5 < np.ptp(a[:, 7]) < 6.0  # mV, as on real ECGs
    np.testing.assert_array_equal(a, synthetic_ecg(seed=1))
    b = synthetic_ecg(seed=2, seconds=5, fs=250)
    assert b.shape == (1250, 12) and not np.allclose(a[:1250, 1], synthetic_ecg(seed=2)[:1250, 1])
    # heart rate follows hr_bpm: count R peaks in lead II
    c = synthetic_ecg(seed=3, hr_bpm=60, axis_deg=60, noise_mv=0, wander_mv=0)
    ii = c[:, 1]
    peaks = np.flatnonzero(
        (ii[1:-1] > ii[:-2]) & (ii[1:-1] >= ii[2:]) & (ii[1:-1] > 0.5 * ii.max())
    )
    assert 9 <= len(peaks) <= 11


def test_synthetic_ecg_findings():
    from convert.synth.ecg import KINDS

    def r_peaks(sig):
        s = np.abs(sig - np.median(sig))
        return (
            np.flatnonzero((s[1:-1] > s[:-2]) & (s[1:-1] >= s[2:]) & (s[1:-1] > 0.5 * s.max())) + 1
        )

    normal = synthetic_ecg(seed=5, kind="normal", noise_mv=0, wander_mv=0)
    for kind in KINDS:
        a = synthetic_ecg(seed=5, kind=kind)
        assert a.shape == (5000, 12) and np.isfinite(a).all()
        np.testing.assert_allclose(a[:, 2], a[:, 1] - a[:, 0], atol=1e-12)
        np.testing.assert_allclose(a[:, 5], a[:, 1] - a[:, 0] / 2, atol=1e-12)
        if kind != "normal":
            assert not np.allclose(a, normal, atol=0.05), kind
    # AF: irregular RR intervals; normal sinus rhythm: regular
    rr_n = np.diff(r_peaks(normal[:, 1]))
    af = synthetic_ecg(seed=5, kind="af", noise_mv=0, wander_mv=0)
    rr_af = np.diff(r_peaks(af[:, 1]))
    assert np.std(rr_n) / np.mean(rr_n) < 0.08 < np.std(rr_af) / np.mean(rr_af)
    with pytest.raises(ValueError, match="unknown ECG kind"):
        synthetic_ecg(kind="torsades")
    assert synthetic_ecg(seed=9, kind="random").shape == (5000, 12)


@pytest.mark.parametrize("dpi,gain,speed", [(200, 10, 25), (100, 5, 25), (300, 20, 50)])
def test_trace_in_mask_matches_signal(ecg, dpi, gain, speed):
    page = render_page(ecg, FS, layout="3x4+1", seed=3, dpi=dpi, gain_mm_mv=gain, speed_mm_s=speed)
    err = _trace_errors(page, ecg)
    assert len(err) > 1500
    assert np.isfinite(err).mean() > 0.999
    e = np.abs(err[np.isfinite(err)])
    assert np.mean(e) < 0.35, np.mean(e)
    assert np.percentile(e, 95) < 0.85, np.percentile(e, 95)
    assert abs(np.mean(err[np.isfinite(err)])) < 0.1  # no systematic offset


def test_image_ink_centre_is_the_signal_to_a_tenth_of_a_pixel(ecg):
    """The anti-aliased ink itself (what a digitizer sees) is centred on the signal value."""
    page = render_page(ecg, FS, seed=1, dpi=200, grid="none", labels=False, separators="none")
    m = page.meta
    k, g, px_per_s = m["px_per_mm"], m["gain_mm_mv"], m["speed_mm_s"] * m["px_per_mm"]
    dark = 255.0 - page.image.mean(axis=2)
    n = np.arange(len(ecg))
    errs = []
    for lead, segs in m["leads"].items():
        j = LEAD_NAMES.index(lead)
        for s in segs:
            for c in range(int(np.ceil(s["box"][0])) + 3, int(s["box"][2]) - 3, 2):
                idx = (s["t0_s"] + (c - s["x0_px"]) / px_per_s) * FS
                v, v0, v1 = np.interp([idx, idx - FS / px_per_s, idx + FS / px_per_s], n, ecg[:, j])
                if max(abs(v1 - v), abs(v0 - v)) * g * k > 0.2:
                    continue
                ye = s["baseline_y"] - v * g * k
                lo = int(round(ye)) - 5
                col = dark[lo : lo + 11, c]
                errs.append((col * np.arange(lo, lo + 11)).sum() / col.sum() - ye)
    e = np.abs(errs)
    assert len(e) > 1000
    assert e.mean() < 0.1 and np.percentile(e, 95) < 0.2, (e.mean(), np.percentile(e, 95))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_places_leads_in_their_boxes(ecg, layout):
    page = render_page(ecg, FS, layout=layout, seed=1, dpi=150)
    m = page.meta
    lay = LAYOUTS[layout]
    assert sorted(m["leads"]) == sorted({name for r in lay.all_rows() for name in r})
    for r, leads in enumerate(lay.all_rows()):
        for c, lead in enumerate(leads):
            seg = [s for s in m["leads"][lead] if s["row"] == r and s["col"] == c]
            assert len(seg) == 1
            s = seg[0]
            x0, y0, x1, y1 = s["box"]
            assert y0 < s["baseline_y"] < y1 and x0 == pytest.approx(s["x0_px"])
            cols = range(int(np.ceil(x0)) + 3, int(x1) - 3)
            ys = []
            for cx in cols:
                rows = np.flatnonzero(page.mask[int(y0) : int(y1), cx])
                if len(rows):
                    ys.append(np.median(rows) + int(y0))
            assert len(ys) > 0.85 * len(cols)  # drawn across its box (tall QRS may leave it)
            assert abs(np.median(ys) - s["baseline_y"]) < 0.25 * (y1 - y0)
            # and the samples it shows are those of its time window
            i0, i1 = int(np.ceil(s["t0_s"] * FS)), int(np.ceil(s["t1_s"] * FS))
            j = LEAD_NAMES.index(lead)
            np.testing.assert_array_equal(page.truth[i0:i1, j], ecg[i0:i1, j])
    # segment columns cover consecutive windows of the printed width
    T = m["printed_seconds"]
    assert T == pytest.approx(250 / 25)
    for segs in m["leads"].values():
        for s in segs:
            n = len(lay.rows[0]) if s["row"] < len(lay.rows) else 1
            assert s["t1_s"] - s["t0_s"] == pytest.approx(T / n)


def _ink_centre(img: np.ndarray, col: int, y_guess: float, half: int = 6) -> float:
    """Sub-pixel centre of the ink (darkness-weighted) in column `col` around `y_guess`."""
    lo = int(round(y_guess)) - half
    dark = 255.0 - img[lo : lo + 2 * half + 1, col].astype(float).mean(axis=1)
    dark = np.clip(dark - 5, 0, None)
    return lo + float((dark * np.arange(len(dark))).sum() / dark.sum())


@pytest.mark.parametrize("gain", [5.0, 10.0, 20.0])
def test_calibration_pulse_height(ecg, gain):
    page = render_page(ecg, FS, seed=2, gain_mm_mv=gain, dpi=200, grid="none", labels=False)
    k = page.meta["px_per_mm"]
    assert len(page.meta["calibration"]) == len(LAYOUTS["3x4+1"].all_rows())
    for cal in page.meta["calibration"]:
        c_top = int(round((cal["x_rise"] + cal["x_fall"]) / 2))
        c_base = int(round((cal["x_start"] + cal["x_rise"]) / 2))
        # measured on the anti-aliased ink: sub-pixel
        top = _ink_centre(page.image, c_top, cal["top_y"])
        base = _ink_centre(page.image, c_base, cal["baseline_y"])
        assert (base - top) / k == pytest.approx(gain, abs=0.03)  # mm for the 1 mV pulse
        # and on the binary mask: to the pixel
        y_top = [(a + b - 1) / 2 for a, b in _runs(page.mask[:, c_top])]
        y_base = [(a + b - 1) / 2 for a, b in _runs(page.mask[:, c_base])]
        top = min(y_top, key=lambda y: abs(y - cal["top_y"]))
        base = min(y_base, key=lambda y: abs(y - cal["baseline_y"]))
        assert abs((base - top) - gain * k) <= 1.0


def test_nan_where_not_printed(ecg):
    p = render_page(ecg, FS, layout="3x4", seed=0, dpi=100)
    printed = np.isfinite(p.truth)
    assert (printed.sum(0) == 1250).all()  # every lead shows 2.5 s of 10 s
    assert printed[:1250, 0].all() and not printed[1250:, 0].any()  # I in column 0
    assert printed[3750:, LEAD_NAMES.index("V4")].all()
    p = render_page(ecg, FS, layout="3x4+1", seed=0, dpi=100)
    assert np.isfinite(p.truth[:, 1]).all()  # rhythm strip II: all 10 s
    p = render_page(ecg, FS, layout="12x1", seed=0, dpi=100, speed_mm_s=50.0)
    assert np.isfinite(p.truth[:2500]).all() and np.isnan(p.truth[2500:]).all()  # 50 mm/s: 5 s fit
    low = synthetic_ecg(seconds=12, fs=100, seed=2)  # any rate, longer than the page
    p = render_page(low, 100.0, layout="3x4", seed=0, dpi=100)
    assert p.truth.shape == (1200, 12) and (np.isfinite(p.truth).sum(0) == 250).all()
    assert np.isnan(p.truth[1000:]).all()  # only 10 s fit at 25 mm/s
    partial = ecg.copy()
    partial[:, LEAD_NAMES.index("V3")] = np.nan
    partial[100:200, 0] = np.nan
    p = render_page(partial, FS, layout="3x4+1", seed=0, dpi=100)
    assert np.isnan(p.truth[:, LEAD_NAMES.index("V3")]).all()
    assert np.isnan(p.truth[100:200, 0]).all() and np.isfinite(p.truth[:100, 0]).all()


def test_big_qrs_crosses_into_neighbouring_rows():
    big = synthetic_ecg(seed=4, r_amplitude_mv=4.0)
    page = render_page(big, FS, layout="12x1", seed=0, dpi=100)
    s = page.meta["leads"]["V3"][0]
    x0, y0, x1, y1 = (int(v) for v in s["box"])
    outside = page.mask[:y0, x0 + 5 : x1 - 5].sum() + page.mask[y1:, x0 + 5 : x1 - 5].sum()
    assert outside > 0  # drawn beyond its row, not clipped


@pytest.mark.parametrize("grid", list(GRID_STYLES))
def test_grid_styles_render(ecg, grid):
    page = render_page(ecg, FS, seed=0, grid=grid, dpi=100, dotted_minor=(grid == "red"))
    img = page.image
    gx0, gy0, gx1, gy1 = (int(v) for v in page.meta["grid_rect_px"])
    inside = img[gy0:gy1, gx0:gx1][page.mask[gy0:gy1, gx0:gx1] == 0]
    if grid != "none":
        packed = inside.astype(np.int32) @ np.array([1, 256, 65536])
        assert len(np.unique(packed)) > 3  # paper plus grid colours
    # the ink is darker than the paper around it
    ink = img[page.mask > 0].mean()
    assert ink < inside.mean() - 40


def test_page_sizes_and_dpi(ecg):
    for size in PAGE_SIZES_MM:
        for dpi in (100, 300):
            p = render_page(ecg[:1000], FS, seed=0, page=size, dpi=dpi, layout="6x2")
            w_mm, h_mm = PAGE_SIZES_MM[size]
            assert p.image.shape[:2] == (round(h_mm * dpi / 25.4), round(w_mm * dpi / 25.4))
            assert p.meta["px_per_mm"] == pytest.approx(dpi / 25.4)
            json.dumps(p.meta)


def test_seeds_reproduce_bit_identically(ecg):
    for mode, extra in (
        ("clean", {"randomize": True}),
        ("scan", {"randomize": True}),
        ("photo", {"photo_size": (1200, 900)}),
    ):
        a = render_page(ecg, FS, seed=5, mode=mode, **extra)
        b = render_page(ecg, FS, seed=5, mode=mode, **extra)
        c = render_page(ecg, FS, seed=6, mode=mode, **extra)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask), mode
        assert json.dumps(a.meta) == json.dumps(b.meta)
        assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("mode", ["clean", "scan", "photo"])
def test_page_remade_from_recorded_meta_alone(ecg, mode):
    from convert.synth import remake_page

    extra = {"photo_size": (1000, 750)} if mode == "photo" else {}
    a = render_page(ecg, FS, seed=21, mode=mode, randomize=True, **extra)
    meta = json.loads(json.dumps(a.meta))  # as read back from page.json
    meta["seed"] = 12345  # the seed is not needed: every choice is recorded
    b = remake_page(ecg, FS, meta)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def _expected_trace_points(page) -> np.ndarray:
    """Flat-page (x, y) of printed samples, from the truth and the geometry in meta."""
    m = page.meta
    k, g, v = m["px_per_mm"], m["gain_mm_mv"], m["speed_mm_s"]
    pts = []
    for lead, segs in m["leads"].items():
        j = LEAD_NAMES.index(lead)
        for s in segs:
            i = np.arange(int(np.ceil(s["t0_s"] * FS)), int(np.ceil(s["t1_s"] * FS)))
            y = page.truth[i, j]
            ok = np.isfinite(y)
            pts.append(
                np.c_[
                    s["x0_px"] + (i[ok] / FS - s["t0_s"]) * v * k, s["baseline_y"] - y[ok] * g * k
                ]
            )
    return np.vstack(pts)


@pytest.mark.parametrize("mode", ["photo", "scan"])
def test_homography_maps_page_points_onto_the_mask(ecg, mode):
    flat_paper = {
        "curl_px": 0.0,
        "waves": [],
        "folds": [],
        "fingers": [],
        "glare": [],
        "lens_k1": 0.0,
    }  # exact H
    extra = {"photo_size": (1600, 1200), "distortion": flat_paper} if mode == "photo" else {}
    for seed in (1, 2):
        page = render_page(ecg, FS, seed=seed, mode=mode, dpi=150, **extra)
        H = np.array(page.meta["distortion"]["homography"])
        assert H.shape == (3, 3) and page.meta["distortion"]["homography_exact"]
        pts = _expected_trace_points(page)[::7]
        q = np.c_[pts, np.ones(len(pts))] @ H.T
        q = q[:, :2] / q[:, 2:]
        h, w = page.mask.shape
        assert page.image.shape[:2] == (h, w)
        inside = (q[:, 0] >= 2) & (q[:, 0] < w - 2) & (q[:, 1] >= 2) & (q[:, 1] < h - 2)
        assert inside.mean() > 0.99
        xi, yi = np.round(q[inside]).astype(int).T
        # within one pixel of a trace pixel of the warped mask
        hit = np.zeros(len(xi), bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                hit |= page.mask[np.clip(yi + dy, 0, h - 1), np.clip(xi + dx, 0, w - 1)] > 0
        assert hit.mean() > 0.97, hit.mean()
        # and the mask is not just everywhere: a shifted copy of the points mostly misses it
        xs = np.clip(xi, 0, w - 1)
        ys = np.clip(yi + 12, 0, h - 1)
        assert (page.mask[ys, xs] > 0).mean() < 0.3


def test_mask_follows_ink_on_bent_folded_held_paper(ecg):
    folds = [
        {
            "pos": 0.45,
            "axis": "x",
            "skew_deg": 2.0,
            "width_mm": 2.0,
            "depth": 0.15,
            "light": 0.08,
            "kink": 0.008,
        }
    ]
    row2 = render_page(ecg, FS, dpi=150).meta["calibration"][1]["baseline_y"] / (210 * 150 / 25.4)
    fingers = [
        {
            "edge": 3,
            "pos": row2,
            "length_mm": 60,
            "width_mm": 20,
            "angle_deg": 0,
            "skin_bgr": [120, 150, 200],
        }
    ]
    page = render_page(
        ecg,
        FS,
        seed=3,
        mode="photo",
        dpi=150,
        photo_size=(1600, 1200),
        distortion={
            "curl_px": 12.0,
            "folds": folds,
            "fingers": fingers,
            "glare": [],
            "lens_k1": -0.08,
            "defocus_sigma": 0.0,
            "motion_len": 0.0,
            "shadow": 0.0,
        },
    )
    assert page.meta["distortion"]["homography_exact"] is False
    grey = page.image.mean(axis=2)
    m = page.mask > 0
    near = cv2.dilate(page.mask, np.ones((9, 9), np.uint8)) > 0
    ring = near & ~(cv2.dilate(page.mask, np.ones((3, 3), np.uint8)) > 0)
    assert m.sum() > 5000
    assert grey[m].mean() < grey[ring].mean() - 50  # the mask sits on the ink, not beside it
    flat = render_page(
        ecg,
        FS,
        seed=3,
        mode="photo",
        dpi=150,
        photo_size=(1600, 1200),
        distortion={
            "curl_px": 12.0,
            "folds": folds,
            "fingers": [],
            "glare": [],
            "lens_k1": -0.08,
            "defocus_sigma": 0.0,
            "motion_len": 0.0,
            "shadow": 0.0,
        },
    )
    assert m.sum() < (flat.mask > 0).sum()  # the finger hides some trace


def test_every_effect_at_once_stays_consistent(ecg):
    """All scan and photo effects switched on together: page still re-makes exactly and the mask
    stays on dark ink."""
    from convert.synth import remake_page

    scan = render_page(
        ecg,
        FS,
        seed=4,
        mode="scan",
        dpi=100,
        distortion={
            "notes": 4,
            "stains": [
                {
                    "x": 300,
                    "y": 300,
                    "rx": 80,
                    "ry": 60,
                    "angle_deg": 20,
                    "ring": True,
                    "ring_px": 6,
                    "soft_px": 8,
                    "opacity": 0.4,
                    "tint_bgr": [60, 120, 190],
                }
            ],
            "folds": [
                {"p": [500, 400], "angle_deg": 90, "width_px": 10, "depth": 0.3, "light": 0.1}
            ],
            "photocopy": {"contrast": 1.8, "threshold": 190, "specks_per_mpx": 200, "seed": 3},
            "jpeg_quality": 80,
        },
    )
    photo = render_page(
        ecg,
        FS,
        seed=4,
        mode="photo",
        dpi=120,
        photo_size=(1200, 900),
        distortion={
            "curl_px": 10.0,
            "crumple": 0.2,
            "waves": [{"amp_px": 2.0, "fx": 1.5, "fy": 2.0, "phase": 0.3, "dir_deg": 40}],
            "folds": [
                {
                    "pos": 0.5,
                    "axis": "y",
                    "skew_deg": 1.0,
                    "width_mm": 2.0,
                    "depth": 0.2,
                    "light": 0.1,
                    "kink": 0.006,
                }
            ],
            "fingers": [
                {
                    "edge": 0,
                    "pos": 0.5,
                    "length_mm": 40,
                    "width_mm": 18,
                    "angle_deg": 0,
                    "skin_bgr": [90, 120, 170],
                }
            ],
            "glare": [{"x": 600, "y": 450, "r": 80, "strength": 0.8}],
            "shadow": 0.4,
            "low_light": 0.6,
            "grayscale": True,
            "motion_len": 2.0,
            "defocus_sigma": 0.5,
            "notes": 2,
            "jpeg_quality": 70,
            "lens_k1": -0.1,
        },
    )
    for page in (scan, photo):
        grey = page.image.mean(axis=2)
        m = page.mask > 0
        ring = (cv2.dilate(page.mask, np.ones((9, 9), np.uint8)) > 0) & ~(
            cv2.dilate(page.mask, np.ones((3, 3), np.uint8)) > 0
        )
        assert m.sum() > 2000 and grey[m].mean() < grey[ring].mean() - 12
        again = remake_page(ecg, FS, json.loads(json.dumps(page.meta)))
        assert np.array_equal(again.image, page.image) and np.array_equal(again.mask, page.mask)
    for page in (scan, photo):  # grey scan / black-and-white photo
        assert np.ptp(page.image.astype(int), axis=2).max() <= 3


def test_bad_arguments_raise_clear_errors(ecg):
    with pytest.raises(ValueError, match="unknown layout"):
        render_page(ecg, FS, layout="4x3")
    with pytest.raises(ValueError, match="unknown mode"):
        render_page(ecg, FS, mode="fax")
    with pytest.raises(ValueError, match="grid style"):
        render_page(ecg, FS, grid="purple")
    with pytest.raises(ValueError, match=r"\(n_samples, 12\)"):
        render_page(ecg[:, :6], FS)
    with pytest.raises(ValueError, match="empty"):
        render_page(ecg[:0], FS)
    with pytest.raises(ValueError, match="unknown photo parameter"):
        render_page(ecg, FS, mode="photo", photo_size=(640, 480), distortion={"tilt": 3})
    with pytest.raises(TypeError, match="unknown style option"):
        render_page(ecg, FS, colour="red")
