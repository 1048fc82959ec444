"""Leaning grid (edge.digitize.lean): paper that is not flat bends the vertical grid lines on the
rectified page; the trace maps are stood upright about each row before the rows are followed, so
QRS spikes printed along a leaning line keep their tips. Pages from the project's own renderer,
bent after rendering."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.digitize import digitize
from edge.digitize.lean import grid_lean, rows_upright
from edge.digitize.maps import PageMaps
from edge.digitize.pipeline import _standard_pulses_only
from edge.digitize.pulses import Pulse
from edge.digitize.rows import SelectedRows, find_rows
from edge.digitize.traceprob import get_trace_probability
from edge.layouts import LEAD_NAMES
from edge.snr import mean_snr, record_snr

FS = 500
K = 6.0  # px/mm: the page is rendered at the digitizer's working resolution
BEND_PX, BEND_PERIOD_PX = 3.0, 400.0  # up to 0.047 px of lean per px: a curled photo's


def _bend(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The page with each pixel row moved along x by f(y) (a wavy curl), and f."""
    h, w = image.shape[:2]
    y = np.arange(h, dtype=np.float64)
    f = BEND_PX * np.sin(2 * np.pi * y / BEND_PERIOD_PX)
    mapx = (np.arange(w)[None, :] + f[:, None]).astype(np.float32)
    mapy = np.ascontiguousarray(np.broadcast_to(y.astype(np.float32)[:, None], (h, w)))
    bent = cv2.remap(image, mapx, mapy, cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    return bent, f


@pytest.fixture(scope="module")
def pages():
    page = render_page(
        synthetic_ecg(seed=4, fs=FS), FS, layout="3x4+1", mode="clean", seed=4, dpi=25.4 * K
    )
    bent, f = _bend(page.image)
    return page, bent, f


def _prob(image: np.ndarray) -> np.ndarray:
    return get_trace_probability("classical")[0](image)


def _upright(image: np.ndarray):
    """The page's classical trace map, its rows, and the resampling that stands them upright."""
    prob = _prob(image)
    rows = find_rows(prob, K)
    return prob, rows, rows_upright(image, prob, list(rows.centres), K)


def test_lean_follows_the_bent_grid(pages):
    """Down any column, the measured shift changes as the bend moved the grid lines (by -f)."""
    _, bent, f = pages
    lean = grid_lean(bent, _prob(bent), K)
    assert lean is not None
    h, w = bent.shape[:2]
    ys = np.arange(150.0, h - 150.0, 30.0)
    got = lean.rows_at(ys)[:, int(0.1 * w) : int(0.9 * w)]
    want = -np.interp(ys, np.arange(h), f)
    err = (got - got.mean(axis=0)) - (want - want.mean())[:, None]
    assert np.median(np.abs(err)) < 0.4
    assert np.abs(want - want.mean()).max() > 2.5  # the bend itself is far larger


def test_flat_page_is_left_alone(pages):
    """On a flat page the measured lean is noise: no row is resampled."""
    page, _, _ = pages
    prob = _prob(page.image)
    rows = find_rows(prob, K)
    assert len(rows.centres) == 4
    assert rows_upright(page.image, prob, list(rows.centres), K) is None


def test_rows_keep_their_own_level_and_strokes_stand_upright(pages):
    _, bent, f = pages
    prob, rows, up = _upright(bent)
    assert up is not None and up.active.all()
    h, w = prob.shape
    cols = np.arange(w, dtype=np.float32)
    x = slice(int(0.1 * w), int(0.9 * w))
    for c in rows.centres:
        yc = int(round(c))
        at_row = up.map_x(yc, yc + 1, w)[0]
        # Moves are taken against the row's own centre: its pixel row barely moves.
        assert np.abs(at_row - cols)[x].max() < 0.3
        # 8 mm above it, the pixel comes from where the bend put that part of the grid line.
        ya = yc - int(8 * K)
        moved = float(np.median((up.map_x(ya, ya + 1, w)[0] - cols)[x]))
        assert moved == pytest.approx(-(f[ya] - f[yc]), abs=0.5)


def test_remap_in_place_matches_a_copy(pages):
    """Each pixel row is read from its own row only, so resampling in place (band by band)
    gives the same map as resampling into a new one."""
    _, bent, _ = pages
    prob, _, up = _upright(bent)
    assert up is not None
    copy = up.remap(prob)
    assert not np.array_equal(copy, prob)
    same = prob.copy()
    up.remap(same, out=same)
    np.testing.assert_array_equal(same, copy)


def test_points_map_back_to_the_page_for_the_overlay(pages):
    """A point of the upright maps lies on the page where its pixel was taken from."""
    _, bent, _ = pages
    prob, _, up = _upright(bent)
    assert up is not None
    h, w = prob.shape
    rng = np.random.default_rng(0)
    xs = rng.integers(100, w - 100, 200)
    ys = rng.integers(100, h - 100, 200)
    want = np.array([up.map_x(int(y), int(y) + 1, w)[0, int(x)] for x, y in zip(xs, ys)])
    got = up.to_page(xs.astype(np.float64), ys.astype(np.float64))
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert np.abs(got - xs).max() > 1.0
    gap = up.to_page(np.array([500.0]), np.array([np.nan]))
    assert gap[0] == 500.0  # a gap marker stays where it is


def test_maps_computed_later_are_resampled_too(pages):
    _, bent, _ = pages
    prob, _, up = _upright(bent)
    assert up is not None
    maps = PageMaps(bent)
    plain = PageMaps(bent).classical_trace
    maps.resample_traces(lambda a: up.remap(a, out=a))
    np.testing.assert_array_equal(maps.classical_trace, up.remap(plain))
    maps.release("classical_trace")
    maps.resample_traces(None)
    np.testing.assert_array_equal(maps.classical_trace, plain)


def test_bent_page_keeps_its_spikes_end_to_end(pages):
    """Read as printed flat (29.5 dB) the page loses about 6 dB to the bend; following the
    rows on the leaning maps lost 14 (spike tips cut where up-strokes ran backwards in x)."""
    page, bent, _ = pages
    r = digitize(bent, trace_model="classical")
    snr = mean_snr(record_snr(page.truth, r.signals.astype(float), FS, LEAD_NAMES))
    assert snr > 21.0


def _pulse(height_mm: float, x_fall: int = 100) -> Pulse:
    return Pulse(x_rise=x_fall - 30, x_fall=x_fall, foot_y=300.0, top_y=300.0 - height_mm * K)


def _selected(pulses: list[Pulse | None]) -> SelectedRows:
    n = len(pulses)
    return SelectedRows([100.0 * (i + 1) for i in range(n)], 100.0, [], [None] * n, pulses)


def test_marks_of_no_standard_shape_beside_standard_pulses_are_dropped():
    std, odd = _pulse(10.0, 160), _pulse(15.3, 9)
    sel = _standard_pulses_only(_selected([odd, None, std, None]), K)
    assert sel.pulses == [None, None, std, None]
    # Without any standard pulse on the page, what was found is all there is.
    alone = _standard_pulses_only(_selected([odd, None]), K)
    assert alone.pulses == [odd, None]
