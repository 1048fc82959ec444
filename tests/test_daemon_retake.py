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


def _hardly_agreeing(reading):
    """The reading misread as a page whose rows went wrong: leads I and II swapped (a misread row
    order) and lead aVF read late, by the least lag at which the limb-lead laws estimate
    LAWS_REFUSE_DB .. MIN_READING_SNR_DB (they hardly agree)."""
    names = list(reading.lead_names)
    i, j, k = names.index("I"), names.index("II"), names.index("aVF")
    for lag in range(0, 60, 2):
        sig = np.array(reading.signals, dtype=np.float64)
        sig[:, [i, j]] = sig[:, [j, i]]
        sig[:, k] = np.roll(sig[:, k], lag)
        est = estimated_snr_db(relation_residuals(sig, reading.fs, names))
        if est is not None and LAWS_REFUSE_DB <= est < MIN_READING_SNR_DB:
            details = {**reading.details, "estimated_snr_db": est}
            return dataclasses.replace(reading, signals=sig, details=details), est
    pytest.fail("no lag lands the laws between the refusal and the confidence lines")


def test_a_reading_whose_limb_leads_hardly_agree_is_never_a_confident_record(reading):
    """Rows misread (I and II swapped, aVF late): the laws still hold roughly (0-3 dB). Kept for
    review, never confident, and the classifier does not interpret it."""
    from edge.interpret import interpret

    bad, est = _hardly_agreeing(reading)
    assert est is not None and LAWS_REFUSE_DB <= est < MIN_READING_SNR_DB
    assert bad.confidence >= LOW_CONFIDENCE  # the digitizer alone would call it confident
    acc = acceptance_for(bad, Config())
    assert acc.ok and acc.confidence < LOW_CONFIDENCE
    it = interpret(bad.signals, bad.fs, list(bad.lead_names), confidence=acc.confidence)
    assert it.refused and it.probabilities is None


def test_a_partly_read_page_whose_limb_leads_hardly_agree_asks_for_a_retake(reading):
    """Rows misread (the laws hold only roughly) on a page of which a sixth was not read:
    too little agreement and too little page to keep. The user is asked for a retake."""
    bad, est = _hardly_agreeing(reading)
    sig = np.array(bad.signals, dtype=np.float64)
    sig[(np.arange(len(sig)) // 50) % 6 == 0, :] = np.nan  # a sixth of every trace not read
    est = estimated_snr_db(relation_residuals(sig, bad.fs, list(bad.lead_names)))
    assert est is not None and est < MIN_READING_SNR_DB
    bad = dataclasses.replace(bad, signals=sig)
    assert bad.confidence >= Config().processing.min_confidence  # confident, yet wrong
    acc = acceptance_for(bad, Config())
    assert acc.verdict is Verdict.RETAKE and acc.reason == "leads_disagree", acc
    assert "hardly agree" in acc.message and f"{est:.1f} dB" in acc.message
