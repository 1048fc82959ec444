"""Limb-lead self-consistency (Einthoven, Goldberger) as a truth-free quality check."""

import numpy as np
import pytest

from convert.synth import render_page, synthetic_ecg
from edge.digitize import digitize
from edge.interpret.consistency import estimated_snr_db, relation_residuals
from edge.interpret.interpretation import MIN_ESTIMATED_SNR_DB, interpret
from edge.layouts import LEAD_NAMES

FS = 500


def test_a_faithful_recording_satisfies_both_laws():
    res = relation_residuals(synthetic_ecg(seed=3), FS)
    assert set(res) == {"einthoven", "goldberger"}
    assert max(res.values()) < 1e-6


@pytest.mark.parametrize("snr_db", [5.0, 10.0, 20.0])
def test_residual_estimates_the_snr_of_independent_lead_errors(snr_db):
    rng = np.random.default_rng(int(snr_db))
    sig = synthetic_ecg(seed=4)
    rms = np.sqrt(np.mean((sig - sig.mean(axis=0)) ** 2, axis=0))
    noisy = sig + rng.normal(size=sig.shape) * rms * 10 ** (-snr_db / 20)
    est = estimated_snr_db(relation_residuals(noisy, FS))
    assert abs(est - snr_db) < 1.5, est


def test_a_baseline_offset_is_not_a_misreading():
    sig = synthetic_ecg(seed=5)
    sig[:, LEAD_NAMES.index("III")] += 0.4
    assert max(relation_residuals(sig, FS).values()) < 1e-6


def test_only_simultaneous_samples_are_judged():
    sig = synthetic_ecg(seed=6)
    part = np.full_like(sig, np.nan)
    for lead in ("I", "II"):  # I and II in the first 2.5 s ...
        part[:1250, LEAD_NAMES.index(lead)] = sig[:1250, LEAD_NAMES.index(lead)]
    part[1250:2500, LEAD_NAMES.index("III")] = sig[
        1250:2500, LEAD_NAMES.index("III")
    ]  # ... III later
    assert relation_residuals(part, FS) == {}
    assert estimated_snr_db({}) is None


def test_contradicting_limb_leads_withhold_the_classification_but_not_the_measurements():
    sig = synthetic_ecg(seed=7)
    good = interpret(sig, FS, list(LEAD_NAMES))
    assert good.refused is None and good.probabilities is not None
    assert good.lead_consistency["estimated_snr_db"] > 40
    bad = sig.copy()
    for lead in ("III", "aVF"):  # two leads read from the wrong row, shifted in time
        bad[:, LEAD_NAMES.index(lead)] = np.roll(sig[:, LEAD_NAMES.index("V2")], 137)
    out = interpret(bad, FS, list(LEAD_NAMES))
    assert out.lead_consistency["estimated_snr_db"] < MIN_ESTIMATED_SNR_DB
    assert out.refused is not None and "contradict" in out.refused
    assert out.probabilities is None
    assert out.measurements.heart_rate_bpm is not None
    assert "No classification" in out.summary


def test_a_digitized_clean_page_passes_the_check():
    sig = synthetic_ecg(seed=8)
    page = render_page(sig, FS, layout="3x4+1", mode="clean", seed=8)
    res = digitize(page.image)
    assert res.to_dict()["estimated_snr_db"] > 12  # the digitizer reports the same estimate
    assert not any("limb leads disagree" in w for w in res.warnings)
    out = interpret(res.signals, res.fs, list(res.lead_names), confidence=res.confidence)
    assert out.lead_consistency, "a 3x4 page prints I, II, III (and aVR, aVL, aVF) side by side"
    assert out.lead_consistency["estimated_snr_db"] > 12
    assert out.refused is None
