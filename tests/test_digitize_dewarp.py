"""Local time axis from the grid (edge.digitize.dewarp): a page stretched unevenly along its rows
(curl, lens distortion) is read with each row's own millimetre ruler."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.digitize import digitize
from edge.digitize.dewarp import row_levels, row_rulers, smooth_grid_reading
from edge.digitize.rows import find_rows
from edge.digitize.traceprob import get_trace_probability
from edge.layouts import LEAD_NAMES
from edge.snr import mean_snr, record_snr

FS = 500


@pytest.fixture(scope="module")
def stretched():
    """A clean page at 6 px/mm, then stretched along x unevenly (up to 2 mm of drift)."""
    page = render_page(
        synthetic_ecg(seed=4, fs=FS), FS, layout="3x4+1", mode="clean", seed=4, dpi=152.4
    )
    h, w = page.image.shape[:2]
    xd = np.arange(w, dtype=np.float64)
    xsrc = xd + 12.0 * np.sin(np.pi * xd / w) ** 2 - 6.0 * xd / w
    mapx = np.tile(xsrc.astype(np.float32), (h, 1))
    mapy = np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w))
    warped = cv2.remap(page.image, mapx, mapy, cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    return page, warped, xsrc / page.meta["px_per_mm"]


def test_rulers_follow_an_uneven_stretch(stretched):
    page, warped, true_mm = stretched
    prob = get_trace_probability("classical")[0](warped)
    rows = find_rows(prob, 6.0)
    w = warped.shape[1]
    a, b = int(0.1 * w), int(0.9 * w)
    rulers = row_rulers(warped, prob, rows.centres, rows.pitch, 6.0, [(a, b)] * len(rows.centres))
    assert len(rulers) == 4 and all(r is not None for r in rulers)
    linear = np.arange(w) / 6.0 - true_mm
    for r in rulers:
        err = (r.mm - true_mm)[a:b]
        err -= err.mean()
        assert np.abs(err).max() < 0.15  # a straight scale is 1.4 mm off
        assert np.abs((linear - linear[a:b].mean())[a:b]).max() > 1.0
        assert np.all(np.diff(r.mm) > 0)


def test_stretched_page_keeps_its_timing_end_to_end(stretched):
    page, warped, _ = stretched
    r = digitize(warped, trace_model="classical")
    assert (
        mean_snr(record_snr(page.truth, r.signals.astype(float), FS, LEAD_NAMES)) > 18.0
    )  # 10.8 dB unruled


def test_time_origin_follows_the_rulers_when_the_page_scale_does_not_fit():
    """The right end of the rows stretched by up to 40 px (a curl): counting the printed 10 s
    back from the rows' end with the page scale would put the start 19 px early; the rulers
    keep it where the flat page has it."""
    page = render_page(
        synthetic_ecg(seed=4, fs=FS), FS, layout="3x4+1", mode="clean", seed=4, dpi=152.4
    )
    h, w = page.image.shape[:2]
    xd = np.arange(w, dtype=np.float64)
    xsrc = (xd + 40.0 * (xd / w) ** 4).astype(np.float32)
    warped = cv2.remap(
        page.image,
        np.tile(xsrc, (h, 1)),
        np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w)),
        cv2.INTER_LINEAR,
        borderValue=(255, 255, 255),
    )
    flat = digitize(page.image, trace_model="classical").details["time_axis_px"]["t0"]
    bent = digitize(warped, trace_model="classical").details["time_axis_px"]["t0"]
    assert bent == pytest.approx(flat, abs=2.5)


def test_rows_bent_up_and_down_keep_their_baseline():
    """A curl lifts the middle of the page 3 mm (0.3 mV at 10 mm/mV) against its ends: the
    horizontal grid lines beside each row show the bend, and the trace is read from them."""
    page = render_page(
        synthetic_ecg(seed=4, fs=FS), FS, layout="3x4+1", mode="clean", seed=4, dpi=152.4
    )
    h, w = page.image.shape[:2]
    k = page.meta["px_per_mm"]
    lift = 3.0 * k * np.sin(np.pi * np.arange(w) / w) ** 2
    mapy = (np.arange(h, dtype=np.float64)[:, None] + lift[None, :]).astype(np.float32)
    mapx = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    bent = cv2.remap(page.image, mapx, mapy, cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    r = digitize(bent, trace_model="classical")
    assert (
        mean_snr(record_snr(page.truth, r.signals.astype(float), FS, LEAD_NAMES)) > 18.5
    )  # 16.1 dB read level


def test_rows_of_crumpled_paper_keep_their_baseline():
    """Crumpled paper waves: the rows rise and fall 1.5 mm twice and a half times across the
    page, with a kink where it was folded. No low-order curve through the grid's level follows
    that; the grid lines beside each row are followed as they are."""
    page = render_page(
        synthetic_ecg(seed=4, fs=FS), FS, layout="3x4+1", mode="clean", seed=4, dpi=152.4
    )
    h, w = page.image.shape[:2]
    k = page.meta["px_per_mm"]
    x = np.arange(w, dtype=np.float64)
    lift = 1.5 * k * np.sin(2 * np.pi * 2.5 * x / w) + 0.01 * np.maximum(x - 0.6 * w, 0.0)
    mapy = (np.arange(h, dtype=np.float64)[:, None] + lift[None, :]).astype(np.float32)
    mapx = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    bent = cv2.remap(page.image, mapx, mapy, cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    r = digitize(bent, trace_model="classical")
    assert (
        mean_snr(record_snr(page.truth, r.signals.astype(float), FS, LEAD_NAMES)) > 22.0
    )  # 12.0 dB with a cubic


def test_level_is_followed_across_a_slip_in_the_grid_phase():
    """A bend read from the grid phase, with a stretch of noise (glare) where the phase jumps
    about: the noise is dropped and the stretch after it joins the one before with the whole
    number of periods that keeps the level continuous."""
    from edge.digitize.dewarp import level_from_phase

    f0 = 1 / 30.0
    idx = np.arange(0, 1500)
    true = 8.0 * np.sin(2 * np.pi * idx / 900.0)
    for seed in range(5):
        z = np.exp(-2j * np.pi * f0 * true)
        rng = np.random.default_rng(seed)
        noisy = (idx >= 600) & (idx < 750)
        z[noisy] = np.exp(2j * np.pi * rng.random(noisy.sum()))
        kept, dy = level_from_phase(z, idx, f0)
        assert not np.isin(kept, idx[noisy]).any()
        err = dy - true[kept]
        assert np.abs(err - err[0]).max() < 0.5  # no whole-period (30 px) jump after the noise


def test_no_grid_means_no_ruler():
    blank = np.full((600, 1800, 3), 255, np.uint8)
    cv2.line(blank, (100, 300), (1700, 300), (0, 0, 0), 2)
    prob = get_trace_probability("classical")[0](blank)
    assert row_rulers(blank, prob, [300.0], 200.0, 6.0, [(100, 1700)]) == [None]


def _unwrapped_across_glare(f0: float, n: int, gap: tuple[int, int], seed: int):
    """A row's grid envelope at f0 (a grid stretched 2 % against the page scale) with the
    columns in `gap` unreadable (random phase: glare), unwrapped: (error in periods, bad)."""
    from edge.digitize.dewarp import unwrap_segments

    x = np.arange(n, dtype=np.float64)
    u_true = f0 * x * 1.02 + 0.3
    z = np.exp(2j * np.pi * (u_true - f0 * x))
    bad = (x >= gap[0]) & (x < gap[1])
    z[bad] = np.exp(2j * np.pi * np.random.default_rng(seed).random(bad.sum()))
    return unwrap_segments(z, ~bad, f0) - u_true, bad


def test_phase_slip_under_glare_does_not_shift_the_rest_of_the_row():
    """A readable grid phase, 40 px of garbage (glare), then readable again: the stretch after
    the gap joins with the whole number of periods that keeps the page scale."""
    err, _ = _unwrapped_across_glare(1 / 30.0, 1200, (500, 540), seed=0)
    assert np.abs(err - err[0]).max() < 0.05  # no whole-period jump after the gap


def test_a_ruler_that_slipped_a_5mm_period_is_told_from_rows_bent_differently():
    """Four rows of crumpled paper bend by up to 1.5 mm each, differently, and a perspective
    residue stretches the lower rows by up to 1 %; one ruler also slipped a whole 5 mm period
    (a label or separator line pulled its phase). Only that one is dropped; of two rows that
    part by a period, both are."""
    from edge.digitize.dewarp import RowRuler, slipped_rulers

    x = np.arange(1800, dtype=np.float64)
    rulers = []
    for i in range(4):
        mm = x / 6.0 * (1 + 0.003 * i) + 1.5 * np.sin(2 * np.pi * x / (700 + 150 * i) + i)
        rulers.append(RowRuler(mm, 5.0, 0.9))
    assert slipped_rulers(rulers, [0, 1, 2, 3], 100, 1700, 6.0) == set()
    step = 5.0 / (1 + np.exp(-(x - 900) / 10.0))
    rulers[2] = RowRuler(rulers[2].mm + step, 5.0, 0.9)
    assert slipped_rulers(rulers, [0, 1, 2, 3], 100, 1700, 6.0) == {2}
    assert slipped_rulers(rulers, [1, 2], 100, 1700, 6.0) == {1, 2}


def test_long_glare_gap_is_bridged_at_the_rows_own_scale():
    """The 1 mm grid (6 px) of a row stretched 2 % against the page scale, unreadable over 330 px
    (55 mm of glare): carried across at the page scale the gap's far side lands 1.1 periods off
    and joins a whole millimetre (40 ms) late; carried at the scale both sides measure, it
    joins where it is."""
    err, bad = _unwrapped_across_glare(1 / 6.0, 1500, (600, 930), seed=1)
    assert np.abs(err[~bad] - err[0]).max() < 0.05


def test_each_row_keeps_time_from_its_own_calibration_pulse():
    """The rhythm row's strip slid 3 mm to the right (a torn or curled page): lead II, printed in
    row 2 and again in the rhythm row, must not be an average of two misaligned copies
    (15 dB or less when one time origin serves all rows)."""
    page = render_page(synthetic_ecg(seed=6, fs=FS), FS, layout="3x4+1", mode="clean", seed=6)
    img = page.image.copy()
    ys = sorted(c["baseline_y"] for c in page.meta["calibration"])
    pitch = page.meta["row_pitch_px"]
    y0, y1 = int(ys[-1] - 0.45 * pitch), int(ys[-1] + 0.45 * pitch)
    band = img[y0:y1].copy()
    img[y0:y1, 24:] = band[:, :-24]
    r = digitize(img, trace_model="classical")
    scores = record_snr(page.truth, r.signals.astype(float), FS, LEAD_NAMES)
    assert scores["II"].snr_db > 20.0 and abs(scores["II"].shift_samples) <= 2


def test_row_without_readable_grid_borrows_its_neighbours_ruler():
    """Glare or header text over one row's grid band: that row takes the millimetres of the
    ruled rows beside it (interpolated between them, the nearest at the page's edge) rather
    than the page scale, so it does not drift against them."""
    from edge.digitize.dewarp import RowRuler
    from edge.digitize.rulers import borrow_rulers

    x = np.arange(1800, dtype=np.float64)
    r1, r3 = RowRuler(x * 0.170, 5.0, 0.9), RowRuler(x * 0.166, 5.0, 0.9)
    out = borrow_rulers([None, r1, None, r3], [200.0, 460.0, 720.0, 980.0], [1, 3])
    assert out[1] is r1 and out[3] is r3
    assert np.allclose(out[0].mm, r1.mm)  # top row: its nearest neighbour
    assert np.allclose(out[2].mm, 0.5 * (r1.mm + r3.mm))  # between two ruled rows


def test_rulers_follow_a_slight_bend_and_ignore_local_glitches():
    """What a slightly wrong perspective leaves along a row is a smooth bend of a few tenths of a
    millimetre (here 0.25 mm, 10 ms at 25 mm/s): the ruler must follow it rather than read the
    row as straight. Lead boundaries and labels disturb the grid phase locally (here a 1 mm
    glitch over 15 mm); those must be outvoted, not followed."""
    page = render_page(
        synthetic_ecg(seed=6, fs=FS), FS, layout="3x4+1", mode="clean", seed=6, dpi=152.4
    )
    h, w = page.image.shape[:2]
    xd = np.arange(w, dtype=np.float64)
    xsrc = xd + 6.0 * 0.25 * (1.0 - (2.0 * xd / w - 1.0) ** 2)  # 0.25 mm bow at 6 px/mm
    warped = cv2.remap(
        page.image,
        np.tile(xsrc.astype(np.float32), (h, 1)),
        np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w)),
        cv2.INTER_LINEAR,
        borderValue=(255, 255, 255),
    )
    true_mm = xsrc / page.meta["px_per_mm"]
    prob = get_trace_probability("classical")[0](warped)
    rows = find_rows(prob, 6.0)
    a, b = int(0.1 * w), int(0.9 * w)
    rulers = row_rulers(warped, prob, rows.centres, rows.pitch, 6.0, [(a, b)] * len(rows.centres))
    assert all(r is not None for r in rulers)
    x = np.arange(a, b, dtype=np.float64)
    bend = true_mm[a:b] - np.polyval(np.polyfit(x, true_mm[a:b], 1), x)
    assert np.abs(bend).max() > 0.1  # a straight ruler would be this far off
    for r in rulers:
        err = (r.mm - true_mm)[a:b]
        assert np.abs(err - err.mean()).max() < 0.05

    # The same reading with a 1 mm glitch over 15 mm of one row: the bend is still what is followed.
    rng = np.random.default_rng(0)
    for _ in range(5):
        mm = true_mm.copy()
        g0 = int(rng.uniform(a + 60, b - 150))
        mm[g0 : g0 + 90] += np.hanning(90) * 1.0
        mm += rng.normal(0, 0.01, w)
        out = smooth_grid_reading(np.maximum.accumulate(mm), a, b, 6.0)
        err = (out - true_mm)[a:b]
        assert np.abs(err - err.mean()).max() < 0.05


def test_levels_follow_a_slight_bow():
    """A bow of 0.25 mm (25 uV at 10 mm/mV) is below what used to count as bent (0.3 mm) but is
    a smooth bend, not reading noise: the level must follow it."""
    page = render_page(
        synthetic_ecg(seed=6, fs=FS), FS, layout="3x4+1", mode="clean", seed=6, dpi=152.4
    )
    h, w = page.image.shape[:2]
    k = page.meta["px_per_mm"]
    lift = 0.25 * k * (1.0 - (2.0 * np.arange(w) / w - 1.0) ** 2)
    mapy = (np.arange(h, dtype=np.float64)[:, None] + lift[None, :]).astype(np.float32)
    bent = cv2.remap(
        page.image,
        np.tile(np.arange(w, dtype=np.float32), (h, 1)),
        mapy,
        cv2.INTER_LINEAR,
        borderValue=(255, 255, 255),
    )
    prob = get_trace_probability("classical")[0](bent)
    rows = find_rows(prob, k)
    a, b = int(0.1 * w), int(0.9 * w)
    levels = row_levels(bent, prob, rows.centres, rows.pitch, k, [(a, b)] * len(rows.centres))
    assert all(lv is not None for lv in levels)
    want = -(lift - lift[a])  # the grid is drawn higher where the paper lifts
    x = np.arange(a, b, dtype=np.float64)
    bow = want[a:b] - np.polyval(np.polyfit(x, want[a:b], 1), x)
    assert np.abs(bow).max() > 0.1 * k  # a straight level would be this far off
    for lv in levels:
        err = (lv - want)[a:b] / k
        assert np.abs(err - err.mean()).max() < 0.05
