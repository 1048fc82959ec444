"""The verdict on a reading (edge.acceptance) on real digitizer results: a faithful reading is
accepted with its confidence; one whose limb leads break Einthoven's and Goldberger's laws, one
with leads missing and one that is no ECG at all are refused with their own message."""

import dataclasses

import cv2
import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.acceptance import (
    LAWS_FULL_DB,
    LAWS_REFUSE_DB,
    MIN_LEADS_READ,
    Verdict,
    explain_refusal,
    judge_reading,
    laws_factor,
    neighbour_correlation,
    refuse_noise,
)
from edge.digitize import digitize
from edge.errors import BadInputError
from edge.layouts import LEAD_NAMES

FS = 500


@pytest.fixture(scope="module")
def result():
    page = render_page(synthetic_ecg(seed=3, fs=FS), FS, layout="3x4+1", mode="clean", seed=3)
    return digitize(page.image, trace_model="classical")


def _with(result, signals, **details):
    return dataclasses.replace(
        result, signals=signals.astype(np.float32), details={**result.details, **details}
    )


def test_faithful_reading_is_accepted_with_its_confidence(result):
    acc = judge_reading(result)
    assert acc.ok and acc.verdict is Verdict.ACCEPTED
    assert acc.estimated_snr_db > LAWS_FULL_DB and acc.leads_read == 12
    assert acc.confidence == pytest.approx(result.confidence)
    assert acc.to_dict()["verdict"] == "accepted"


def test_reading_whose_limb_leads_disagree_is_a_retake_and_not_confident(result):
    sig = result.signals.astype(np.float64).copy()
    for name in ("II", "aVR"):  # two limb leads read upside down
        sig[:, LEAD_NAMES.index(name)] *= -1
    bad = _with(result, sig)
    assert result.confidence > 0.9  # the digitizer alone would call it confident
    acc = judge_reading(bad)
    assert acc.verdict is Verdict.RETAKE and acc.reason == "leads_disagree"
    assert acc.estimated_snr_db < LAWS_REFUSE_DB
    assert acc.confidence == 0.0
    assert acc.message.startswith("retake: the leads do not agree")
    err = acc.to_error()
    assert isinstance(err, BadInputError) and err.exit_code == 2 and err.hint


def test_reading_with_a_row_of_leads_missing_is_a_retake(result):
    sig = result.signals.astype(np.float64).copy()
    for name in ("III", "aVF", "V3", "V6"):  # the lower row grey
        sig[:, LEAD_NAMES.index(name)] = np.nan
    acc = judge_reading(_with(result, sig))
    assert acc.verdict is Verdict.RETAKE and acc.reason == "too_few_leads"
    assert acc.leads_read == 8 < MIN_LEADS_READ
    assert set(acc.missing_leads) == {"III", "aVF", "V3", "V6"} and acc.confidence <= 0.1
    flat = result.signals.astype(np.float64).copy()
    flat[:, [LEAD_NAMES.index(n) for n in ("V1", "V2", "V3")]] = 0.0  # flat lines are no leads
    assert judge_reading(_with(result, flat)).reason == "too_few_leads"


def test_reading_of_no_ecg_is_its_own_verdict(result):
    empty = np.full_like(result.signals, np.nan, dtype=np.float64)
    acc = judge_reading(_with(result, empty))
    assert acc.verdict is Verdict.NOT_ECG and acc.message.startswith("not an ECG")
    assert acc.confidence == 0.0
    # scraps of "trace" found in pixel noise: little of a 6x2 page, no grid
    rng = np.random.default_rng(0)
    scraps = np.full((5000, 12), np.nan)
    for j in range(12):
        a = int(rng.integers(0, 4500))
        scraps[a : a + 400, j] = rng.normal(0, 0.5, 400)
    noise = dataclasses.replace(
        _with(result, scraps, page={"grid": {"source": "page_size", "confidence": 0.0}}),
        layout="6x2",
    )
    assert judge_reading(noise).verdict is Verdict.NOT_ECG


def test_laws_factor_is_monotonic_and_bounded():
    values = [laws_factor(x) for x in (-20.0, -0.1, 0.0, 3.0, 6.0, 10.0, 30.0)]
    assert values == sorted(values) and values[:2] == [0.0, 0.0] and values[-1] == 1.0
    assert 0.5 <= laws_factor(1.0) < laws_factor(6.0) < 1.0
    assert laws_factor(None) == 0.5


def test_reading_with_weak_agreement_is_kept_with_less_confidence(result):
    sig = result.signals.astype(np.float64).copy()
    rng = np.random.default_rng(4)
    for name in ("I", "II", "III", "aVR", "aVL", "aVF"):  # each limb lead read with error
        j = LEAD_NAMES.index(name)
        sig[:, j] += rng.normal(0, 0.6 * np.nanstd(sig[:, j]), len(sig))
    acc = judge_reading(_with(result, sig))
    assert LAWS_REFUSE_DB < acc.estimated_snr_db < LAWS_FULL_DB
    assert acc.ok and 0.5 * result.confidence <= acc.confidence < result.confidence


def test_refusal_of_a_scene_is_explained_as_not_an_ecg(result):
    rng = np.random.default_rng(0)
    scene = np.full((1200, 1600, 3), int(rng.integers(100, 230)), np.uint8)
    for k in range(30):  # shapes and text
        c = tuple(int(x) for x in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, 1500)), int(rng.integers(0, 1100))
        cv2.circle(scene, (x, y), int(rng.integers(20, 200)), c, -1)
        w, h = int(rng.integers(20, 300)), int(rng.integers(20, 300))
        cv2.rectangle(scene, (y, x % 1100), (y + w, x % 1100 + h), c, -1)
        cv2.putText(scene, f"text {k}", (y, x % 1100), cv2.FONT_HERSHEY_SIMPLEX, 1.5, c, 3)
    exc = BadInputError("layout_unknown", "found 9 trace rows", "give the layout")
    assert explain_refusal(exc, scene).code == "not_an_ecg"
    # an ECG page whose rows do not fit a layout keeps the digitizer's own message
    assert explain_refusal(exc, result.rectified).code == "layout_unknown"
    other = BadInputError("too_blurry", "blurred", "hold still")
    assert explain_refusal(other, scene) is other


def test_pixel_noise_is_refused_before_reading_and_pages_are_not(result):
    rng = np.random.default_rng(2)
    noise = rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8)
    err = refuse_noise(noise)
    assert err is not None and err.code == "not_an_ecg" and "noise" in err.message
    assert refuse_noise(result.rectified) is None  # an ECG page
    assert refuse_noise(cv2.GaussianBlur(noise, (0, 0), 1.0)) is None  # left to the digitizer
    assert neighbour_correlation(np.full((300, 400, 3), 200, np.uint8)) is None  # blank
