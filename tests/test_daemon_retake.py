"""The daemon's save-or-retake decision on real readings: the shipped example photo digitized by
the real digitizer is saved; the same reading with its limb leads made to contradict each other
(as a misread page does) is refused with a retake request, judged by the real limb-lead check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.acceptance import LAWS_REFUSE_DB, Verdict
from edge.config import Config
from edge.daemon import acceptance_for
from edge.digitize.confidence import LOW_CONFIDENCE
from edge.interpret.consistency import MIN_READING_SNR_DB, estimated_snr_db, relation_residuals

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reading():
    from edge.digitize import digitize

    img = cv2.imread(str(REPO / "examples" / "photo.jpg"), cv2.IMREAD_COLOR)
    assert img is not None
    return digitize(img)


def test_a_consistent_reading_is_saved(reading):
    est = reading.details.get("estimated_snr_db")
    assert est is not None and est > MIN_READING_SNR_DB
    acc = acceptance_for(reading, Config())
    assert acc.ok and acc.verdict is Verdict.ACCEPTED
    assert acc.confidence >= Config().processing.min_confidence


def _with_limb_leads_swapped(reading, a: str, b: str):
    sig = np.array(reading.signals, dtype=np.float64)
    names = list(reading.lead_names)
    i, j = names.index(a), names.index(b)
    sig[:, [i, j]] = sig[:, [j, i]]  # what a misread row order gives
    est = estimated_snr_db(relation_residuals(sig, reading.fs, names))
    return dataclasses.replace(
        reading, signals=sig, details={**reading.details, "estimated_snr_db": est}
    ), est


def test_a_reading_whose_limb_leads_hardly_agree_is_never_a_confident_record(reading):
    """I and II swapped: the laws still hold roughly (0-3 dB). Kept for review, never confident,
    and the classifier does not interpret it."""
    from edge.interpret import interpret

    bad, est = _with_limb_leads_swapped(reading, "I", "II")
    assert est is not None and LAWS_REFUSE_DB <= est < MIN_READING_SNR_DB
    assert bad.confidence >= LOW_CONFIDENCE  # the digitizer alone would call it confident
    acc = acceptance_for(bad, Config())
    assert acc.ok and acc.confidence < LOW_CONFIDENCE
    it = interpret(bad.signals, bad.fs, list(bad.lead_names), confidence=acc.confidence)
    assert it.refused and it.probabilities is None


def test_a_partly_read_page_whose_limb_leads_hardly_agree_asks_for_a_retake(reading):
    """I and II swapped (the laws hold only roughly) on a page of which a sixth was not read:
    too little agreement and too little page to keep. The user is asked for a retake."""
    bad, est = _with_limb_leads_swapped(reading, "I", "II")
    sig = np.array(bad.signals, dtype=np.float64)
    sig[(np.arange(len(sig)) // 50) % 6 == 0, :] = np.nan  # a sixth of every trace not read
    est = estimated_snr_db(relation_residuals(sig, bad.fs, list(bad.lead_names)))
    assert est is not None and est < MIN_READING_SNR_DB
    bad = dataclasses.replace(bad, signals=sig)
    assert bad.confidence >= Config().processing.min_confidence  # confident, yet wrong
    acc = acceptance_for(bad, Config())
    assert acc.verdict is Verdict.RETAKE and acc.reason == "leads_disagree", acc
    assert "hardly agree" in acc.message and f"{est:.1f} dB" in acc.message
