"""Perspective from the grid lines (edge.digitize.gridlines) on a photo whose paper outline is
wrong: a hard shadow darkens a third of the page, so the bright-paper mask stops at the shadow's
edge, and the outline's warp tilts and stretches the grid."""

import cv2
import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.digitize import digitize
from edge.digitize.gridlines import (
    DETECT_SIDE,
    find_grid_lines,
    find_grid_lines_at,
    rectifying_homography,
)
from edge.digitize.page import find_page_quad
from edge.layouts import LEAD_NAMES
from edge.snr import record_snr


def _page():
    """The flat page every photo here is made from."""
    return render_page(
        synthetic_ecg(seed=11, fs=500), 500, layout="3x4+1", mode="clean", seed=3, dpi=150
    )


def _on_desk(dst, frame=(1800, 1400), desk=(70, 95, 120)):
    """A rendered page seen with its corners at `dst` in a frame of a plain desk colour."""
    page = _page()
    flat = page.image
    h, w = flat.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    H = cv2.getPerspectiveTransform(src, np.array(dst, np.float32))
    photo = np.full((frame[1], frame[0], 3), desk, np.uint8)
    cv2.warpPerspective(flat, H, frame, dst=photo, borderMode=cv2.BORDER_TRANSPARENT)
    return photo, H, page


def _mean_snr(res, page) -> float:
    n = min(len(res.signals), len(page.truth))
    scores = record_snr(page.truth[:n], res.signals[:n].astype(np.float64), 500, LEAD_NAMES)
    return float(np.mean([s.snr_db for s in scores.values()]))


def _assert_rectifies(H, G, page, tol: float) -> None:
    """Flat-page points through the camera (H) and back through G: only an axis-aligned scale and
    a shift may remain, i.e. x' depends on x alone and y' on y alone, linearly (within `tol` of
    the span)."""
    h, w = page.image.shape[:2]
    xs, ys = np.meshgrid(np.linspace(0.1 * w, 0.9 * w, 9), np.linspace(0.1 * h, 0.9 * h, 7))
    P = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    out = cv2.perspectiveTransform(cv2.perspectiveTransform(P[None], H), G)[0]
    for axis in (0, 1):
        A = np.c_[P[:, axis], np.ones(len(P))]
        coef, *_ = np.linalg.lstsq(A, out[:, axis], rcond=None)
        resid = np.abs(A @ coef - out[:, axis]).max()
        span = np.ptp(out[:, axis])
        assert resid < tol * span, (axis, resid, span)


def _photo(shadow: bool):
    # Seen at an angle on a brown desk.
    photo, H, page = _on_desk([[330, 260], [1530, 330], [1480, 1130], [270, 1060]])
    if shadow:  # a hard shadow over the left part of the frame (desk and paper alike)
        xx = np.arange(1800)[None, :] + 0.35 * np.arange(1400)[:, None]
        shade = np.where(xx < 900, 0.42, 1.0).astype(np.float32)
        photo = np.clip(photo * shade[..., None], 0, 255).astype(np.uint8)
    return photo, H, page


@pytest.fixture(scope="module")
def shadowed_photo():
    return _photo(shadow=True)


def test_paper_outline_alone_is_wrong_here(shadowed_photo):
    """The premise: the bright-paper outline misses the shadowed part of the page."""
    photo, H, page = shadowed_photo
    quad, why = find_page_quad(photo)
    h, w = page.image.shape[:2]
    truth = cv2.perspectiveTransform(np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float32), H)[0]
    assert why == "found"
    assert np.linalg.norm(quad - truth, axis=1).max() > 100


def test_grid_lines_rectify_the_page_plane(shadowed_photo):
    photo, H, page = shadowed_photo
    lines = find_grid_lines(photo)
    assert lines is not None
    G = rectifying_homography(lines, (900.0, 700.0))
    assert G is not None
    _assert_rectifies(H, G, page, 0.004)


def test_shadowed_photo_digitizes_through_the_grid(shadowed_photo):
    photo, H, page = shadowed_photo
    res = digitize(photo, trace_model="classical")
    assert any("perspective taken from the grid" in w for w in res.warnings), res.warnings
    assert res.to_dict()["page"]["perspective"] == "grid_lines"
    mean = _mean_snr(res, page)
    assert mean > 12.0, mean


def test_a_right_outline_is_kept():
    """Without the shadow the outline is right: the grid lines agree with its warp and the page
    is rectified from the outline as before."""
    photo, H, page = _photo(shadow=False)
    res = digitize(photo, trace_model="classical")
    assert res.to_dict()["page"]["perspective"] == "outline"
    assert not any("perspective taken from the grid" in w for w in res.warnings)


def test_no_grid_lines_on_a_blank_desk():
    desk = np.full((900, 1200, 3), (70, 95, 120), np.uint8)
    desk = cv2.add(desk, np.random.default_rng(0).integers(0, 12, desk.shape, dtype=np.uint8))
    assert find_grid_lines(desk) is None


def test_page_on_a_white_desk_is_cropped_to_its_grid():
    """A page on a desk as bright as paper has no outline ("fills"), yet fills only part of the
    frame: the grid's lines set the crop and the scale (the whole frame read as the page gave
    about 0 dB)."""
    photo, H, page = _on_desk(
        [[330, 260], [1530, 330], [1480, 1130], [270, 1060]], desk=(238, 240, 242)
    )
    quad, why = find_page_quad(photo)
    assert quad is None and why == "fills"
    res = digitize(photo, trace_model="classical")
    assert res.to_dict()["page"]["perspective"] == "grid_lines"
    assert any(
        "page outline not found: perspective taken from the grid lines" in w for w in res.warnings
    )
    assert _mean_snr(res, page) > 15.0


def test_a_scan_filling_the_frame_keeps_its_own_crop():
    """A flat page that fills the frame (a scan) is not cropped to its grid."""
    page = _page()
    res = digitize(page.image, trace_model="classical")
    assert res.to_dict()["page"]["perspective"] == "none"
    assert not any("perspective taken from the grid" in w for w in res.warnings)


def test_a_small_page_is_searched_at_a_finer_scale():
    """A page 40% of the frame wide: shrunk to DETECT_SIDE its 1 mm lines merge and its 5 mm
    lines alone are too few, so the lines are looked for again at DETECT_SIDE_FINE."""
    photo, H, page = _on_desk(
        [[400, 300], [1400, 350], [1370, 1000], [380, 965]], frame=(2400, 1800)
    )
    assert find_grid_lines_at(photo, None, 0, DETECT_SIDE) is None
    lines = find_grid_lines(photo)
    assert lines is not None
    G = rectifying_homography(lines, (900.0, 650.0))
    assert G is not None
    _assert_rectifies(H, G, page, 0.006)
