"""Decisions tested at their boundary, with real inputs just either side of the named constant:
the classifier's refusal when the limb leads contradict each other (estimated reading SNR below
edge.interpret.MIN_ESTIMATED_SNR_DB), its refusal on a low digitization confidence
(edge.interpret.MIN_CONFIDENCE), and the daemon's refusal to make a record below
processing.min_confidence. A threshold moved by even a fraction of a dB (or of a confidence point)
fails here, where tests far from the boundary would not notice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.config import Config
from edge.daemon import acceptance_for, process_image
from edge.interpret import MIN_CONFIDENCE, interpret
from edge.interpret.consistency import MIN_READING_SNR_DB, estimated_snr_db, relation_residuals
from edge.interpret.interpretation import MIN_ESTIMATED_SNR_DB
from edge.layouts import LEAD_NAMES

FS = 500
EPS_DB = 0.01  # how far either side of the SNR threshold the readings land
EPS_CONF = 1e-6  # how far either side of a confidence threshold
LEAD = {n: i for i, n in enumerate(LEAD_NAMES)}


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    return synthetic_ecg(10, FS, seed=5, hr_bpm=70)


def _misread(ecg: np.ndarray, amount: float) -> np.ndarray:
    """A reading whose limb leads break Einthoven's and Goldberger's laws by `amount`: III and
    aVF each carry a share of a chest lead (as when a trace is followed onto its neighbour). The
    beats stay regular, so only the consistency check can refuse it."""
    x = ecg.copy()
    x[:, LEAD["III"]] += amount * ecg[:, LEAD["V2"]]
    x[:, LEAD["aVF"]] += amount * ecg[:, LEAD["V4"]]
    return x


def _estimated(x: np.ndarray) -> float:
    est = estimated_snr_db(relation_residuals(x, FS))
    assert est is not None
    return est


def _misread_at(ecg: np.ndarray, target_db: float) -> np.ndarray:
    """The misreading whose estimated SNR is `target_db` (bisection: the estimate falls
    monotonically as more of the chest leads is mixed in)."""
    lo, hi = 0.0, 100.0
    assert _estimated(_misread(ecg, hi)) < target_db < _estimated(_misread(ecg, lo))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _estimated(_misread(ecg, mid)) > target_db else (lo, mid)
    x = _misread(ecg, lo)
    assert _estimated(x) == pytest.approx(target_db, abs=EPS_DB / 10)
    return x


def test_thresholds_have_their_documented_values():
    """The boundary tests below follow the named constants; this pins their values, so that
    moving a decision threshold is a deliberate edit here, not a side effect of a refactor."""
    assert MIN_ESTIMATED_SNR_DB == MIN_READING_SNR_DB == 3.0  # classifier and digitizer agree
    assert MIN_CONFIDENCE == 0.4
    assert Config().processing.min_confidence == 0.1


@pytest.mark.parametrize("side", [+1, -1], ids=["just_above", "just_below"])
def test_refusal_at_the_estimated_snr_threshold(ecg, side):
    """A reading estimated EPS_DB above the threshold is classified; EPS_DB below, refused with
    the limb leads named, and measurements are still given."""
    x = _misread_at(ecg, MIN_ESTIMATED_SNR_DB + side * EPS_DB)
    r = interpret(x, FS, LEAD_NAMES)
    assert r.measurements.heart_rate_bpm == pytest.approx(70, rel=0.05)
    if side > 0:
        assert r.refused is None, r.refused
        assert r.probabilities is not None and set(r.probabilities) == {
            "NORM",
            "MI",
            "STTC",
            "CD",
            "HYP",
        }
    else:
        assert r.refused and "limb leads contradict" in r.refused
        assert r.probabilities is None and r.labels == []


@pytest.mark.parametrize("side", [+1, -1], ids=["just_above", "just_below"])
def test_refusal_at_the_confidence_threshold(ecg, side):
    """A digitization confidence EPS_CONF above MIN_CONFIDENCE is classified; below, refused."""
    r = interpret(ecg, FS, LEAD_NAMES, confidence=MIN_CONFIDENCE + side * EPS_CONF)
    if side > 0:
        assert r.refused is None, r.refused
        assert r.probabilities is not None
    else:
        assert r.refused and "digitization confidence" in r.refused
        assert r.probabilities is None


def test_daemon_makes_no_record_just_below_its_confidence_threshold():
    """The daemon keeps a real reading whose confidence is just above processing.min_confidence
    and makes no record when the threshold sits just above the reading's confidence."""
    page = render_page(synthetic_ecg(seed=7, fs=FS), FS, layout="3x4+1", mode="clean", seed=7)
    base = Config()
    base.processing.interpret = False

    def run(min_confidence: float):
        cfg = dataclasses.replace(
            base,
            processing=dataclasses.replace(base.processing, min_confidence=min_confidence),
        )
        return process_image(page.image, cfg)

    first = run(0.0)
    assert first.error is None, first.error
    # The device compares the reading's confidence with the limb-lead laws folded in
    # (edge.acceptance): what it compares is what this test puts the threshold around.
    conf = float(acceptance_for(first.result, base).confidence)
    assert 0.0 < conf < 1.0
    kept = run(conf - EPS_CONF)
    assert kept.error is None, kept.error
    assert float(kept.result.confidence) == float(first.result.confidence)  # the same reading
    refused = run(conf + EPS_CONF)
    assert refused.error is not None and refused.error.code == "unreadable_ecg"
    assert f"confidence {conf:.2f}" in refused.error.message
