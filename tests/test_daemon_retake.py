"""The daemon's save-or-retake decision on real readings: the shipped example photo digitized by
the real digitizer is saved; the same reading with its limb leads made to contradict each other
(as a misread page does) is refused with a retake request, judged by the real limb-lead check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import Config
from edge.acceptance import LAWS_REFUSE_DB, Verdict
from edge.daemon import _usable, acceptance_for
from edge.interpret.consistency import MIN_READING_SNR_DB
from edge.interpret.consistency import estimated_snr_db, relation_residuals

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
    assert acc.ok and _usable(reading, Config()) is None
    assert acc.confidence >= Config().processing.min_confidence


def test_a_reading_whose_limb_leads_contradict_each_other_asks_for_a_retake(reading):
    sig = np.array(reading.signals, dtype=np.float64)
    names = list(reading.lead_names)
    i, ii = names.index("I"), names.index("II")
    sig[:, [i, ii]] = sig[:, [ii, i]]  # I and II swapped: what a misread row order gives
    est = estimated_snr_db(relation_residuals(sig, reading.fs, names))
    assert est is not None and est < LAWS_REFUSE_DB
    bad = dataclasses.replace(
        reading, signals=sig, details={**reading.details, "estimated_snr_db": est}
    )
    assert bad.confidence >= Config().processing.min_confidence  # confident, yet wrong
    acc = acceptance_for(bad, Config())
    assert acc.verdict is Verdict.RETAKE and acc.reason == "leads_disagree"
    why = _usable(bad, Config())
    assert why is not None and "do not agree" in why and f"{est:.1f} dB" in why
