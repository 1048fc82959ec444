"""Preview guidance on synthesizer photos: page outline, and the right instruction for a small,
glared, blurred or dark page, a non-ECG picture, a blank view; stillness over frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.quality import (
    MSG_BLUR,
    MSG_CLOSER,
    MSG_DARK,
    MSG_GLARE,
    MSG_NO_PAGE,
    MSG_READY,
    MSG_STILL,
    QualityMeter,
    assess_frame,
)

synth = pytest.importorskip(
    "convert.synth", reason="the synthesizer (issue 3) is not in this tree yet"
)

GOOD = {"glare": [], "motion_len": 0.0, "defocus_sigma": 0.3}


def _photo(**distortion):
    return synth.render_page(
        synth.synthetic_ecg(seed=4),
        500,
        mode="photo",
        seed=7,
        photo_size=(1280, 960),
        distortion={**GOOD, **distortion},
    )


def _page_corners(page) -> np.ndarray:
    w, h = page.meta["page_mm"]
    ppm = page.meta["px_per_mm"]
    flat = np.array([[0, 0], [w * ppm, 0], [w * ppm, h * ppm], [0, h * ppm]], np.float64)
    H = np.asarray(page.meta["distortion"]["homography"], np.float64)
    pts = np.c_[flat, np.ones(4)] @ H.T
    return pts[:, :2] / pts[:, 2:]


def test_good_photo_outline_matches_the_page_and_asks_for_nothing():
    page = _photo()
    q = assess_frame(page.image)
    assert q.page_found and q.messages == [], q.to_dict()
    err = np.linalg.norm(q.outline - _page_corners(page), axis=1)
    assert err.max() < 0.04 * np.hypot(1280, 960), (q.outline, _page_corners(page))


@pytest.mark.parametrize(
    "distortion, message",
    [
        ({"fill": 0.35}, MSG_CLOSER),
        ({"glare": [{"x": 640, "y": 480, "r": 200, "strength": 1.0}]}, MSG_GLARE),
        ({"defocus_sigma": 6.0}, MSG_BLUR),
        ({"exposure": 0.15}, MSG_DARK),
    ],
)
def test_each_problem_gets_its_instruction(distortion, message):
    q = assess_frame(_photo(**distortion).image)
    assert message in q.messages, q.to_dict()
    assert not q.ok


def _natural(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((960, 1280, 3), np.float32)
    for _ in range(40):
        cv2.circle(
            img,
            (int(rng.integers(0, 1280)), int(rng.integers(0, 960))),
            int(rng.integers(20, 300)),
            rng.uniform(0, 255, 3).tolist(),
            -1,
        )
    img = cv2.GaussianBlur(img, (0, 0), 15)
    img += cv2.GaussianBlur(rng.normal(0, 40, (960, 1280)).astype(np.float32), (0, 0), 1.2)[
        ..., None
    ]
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", ["cat0", "cat1", "white", "grey", "black"])
def test_no_ecg_in_view(name):
    img = {
        "cat0": lambda: _natural(0),
        "cat1": lambda: _natural(1),
        "white": lambda: np.full((720, 1280, 3), 255, np.uint8),
        "grey": lambda: np.full((720, 1280, 3), 128, np.uint8),
        "black": lambda: np.zeros((720, 1280, 3), np.uint8),
    }[name]()
    q = assess_frame(img)
    assert not q.page_found and not q.ok
    assert q.messages[0] == (MSG_DARK if name == "black" else MSG_NO_PAGE)


def test_stillness_is_tracked_over_frames():
    img = cv2.resize(_photo().image, (640, 480), interpolation=cv2.INTER_AREA)
    meter = QualityMeter()
    qs = [meter.assess(img, t * 0.2) for t in range(6)]
    assert qs[0].messages == [MSG_STILL]  # no history yet
    assert qs[-1].messages == [MSG_READY] and qs[-1].still_seconds == pytest.approx(0.8)
    moving = [
        meter.assess(np.roll(img, 20 * (i % 2), axis=1), 2 + 0.2 * i) for i in range(1, 5)
    ]  # a shaky hand
    assert all(q.messages == [MSG_STILL] and q.still_seconds == 0 for q in moving)
