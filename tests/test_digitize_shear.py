"""A page whose grid lines are not square after the perspective warp (an outline a little off, a
page photographed at a slant): the vertical lines are stood upright again (edge.digitize.page,
edge.digitize.lean.page_shear), so every row's pulse, start and beats sit at one x."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.digitize import digitize
from edge.digitize.lean import page_shear
from edge.digitize.page import SHEAR_MIN_DEG, rectify_page
from edge.layouts import LEAD_NAMES
from edge.snr import mean_snr, record_snr

FS = 500
K = 6.0  # px/mm: the page is rendered at the digitizer's working resolution
SHEAR_DEG = 2.5  # vertical lines leaning this far: 6 mm between the top and bottom rows


def _sheared(image: np.ndarray, deg: float) -> np.ndarray:
    """The page with its vertical lines leaning by `deg` (x moves with y about the middle), its
    horizontal lines left level, on a white margin wide enough to keep every corner."""
    h, w = image.shape[:2]
    s = float(np.tan(np.radians(deg)))
    pad = int(np.ceil(abs(s) * h / 2)) + 4
    M = np.float32([[1, s, pad - s * h / 2], [0, 1, 0]])
    return cv2.warpAffine(image, M, (w + 2 * pad, h), borderValue=(255, 255, 255))


@pytest.fixture(scope="module")
def page():
    return render_page(
        synthetic_ecg(seed=6, fs=FS), FS, layout="3x4+1", mode="clean", seed=6, dpi=25.4 * K
    )


def _deg(s: float | None) -> float:
    assert s is not None, "the grid's lean was not read"
    return float(np.degrees(np.arctan(s)))


def test_shear_is_measured_on_a_sheared_page_and_none_on_a_flat_one(page):
    assert abs(_deg(page_shear(_sheared(page.image, SHEAR_DEG), K)) - SHEAR_DEG) < 0.15
    assert abs(_deg(page_shear(_sheared(page.image, -SHEAR_DEG), K)) + SHEAR_DEG) < 0.15
    assert abs(_deg(page_shear(page.image, K))) < 0.1


def test_rectified_page_stands_its_vertical_lines_upright(page):
    """The grid's rotation squares one family only: rotated by the mean of both, the vertical
    lines would keep half the shear."""
    rect = rectify_page(_sheared(page.image, SHEAR_DEG))
    assert abs(_deg(page_shear(rect.image, K))) < SHEAR_MIN_DEG


@pytest.mark.parametrize("deg", [SHEAR_DEG, -SHEAR_DEG])
def test_sheared_page_puts_every_row_pulse_at_one_x(page, deg):
    """Rotated by the mean of both families, the rows' pulses sat 16 px apart from the top row
    to the rhythm strip; stood upright they line up, and the page still reads well."""
    r = digitize(_sheared(page.image, deg), trace_model="classical")
    rises = [row["pulse"]["x_rise"] for row in r.details["rows"] if row.get("pulse")]
    assert len(rises) == 4 and max(rises) - min(rises) <= 2, rises
    assert mean_snr(record_snr(page.truth, r.signals.astype(float), FS, LEAD_NAMES)) > 24.0
