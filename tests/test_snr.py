"""Tests for edge.snr: the Challenge 2024 SNR (shift/offset search, coverage scaling)."""

import numpy as np
import pytest

from edge.snr import MAX_SNR_DB, lead_snr, mean_snr, record_snr

FS = 500


def _ecg_like(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    x = 0.1 * np.sin(2 * np.pi * 1.1 * t)
    for beat in np.arange(0.3, n / FS, 0.83):
        x += 1.2 * np.exp(-0.5 * ((t - beat) / 0.012) ** 2)
        x += 0.25 * np.exp(-0.5 * ((t - beat - 0.25) / 0.05) ** 2)
    return x + 0.01 * rng.standard_normal(n)


def test_identical_is_capped():
    x = _ecg_like()
    s = lead_snr(x, x, FS)
    assert s.snr_db == pytest.approx(MAX_SNR_DB)
    assert s.coverage == 1.0 and s.shift_samples == 0


def test_known_noise_level():
    x = _ecg_like()
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(len(x))
    noise *= np.sqrt(np.sum(x**2) / np.sum(noise**2) / 10 ** (12 / 10))  # exactly 12 dB
    noise -= noise.mean()
    s = lead_snr(x, x + noise, FS)
    assert s.snr_db == pytest.approx(12.0, abs=0.3)


def test_shift_and_offset_are_compensated_within_limits():
    x = _ecg_like()
    est = np.full_like(x, np.nan)
    est[100:] = x[:-100] + 0.7  # 0.2 s late and 0.7 mV high
    s = lead_snr(x, est, FS)
    assert s.shift_samples == 100
    assert s.offset_mv == pytest.approx(-0.7, abs=1e-6)
    assert s.raw_snr_db > 50
    assert s.coverage == pytest.approx((len(x) - 100) / len(x))


def test_offset_beyond_one_mv_is_not_fully_removed():
    x = _ecg_like()
    s_ok = lead_snr(x, x + 0.9, FS)
    s_far = lead_snr(x, x + 1.5, FS)
    assert s_ok.raw_snr_db > 50
    assert s_far.raw_snr_db < 10


def test_shift_beyond_half_second_is_not_found():
    x = _ecg_like()
    assert lead_snr(x, np.roll(x, 200), FS).raw_snr_db > 25
    assert lead_snr(x, np.roll(x, 400), FS).raw_snr_db < 10  # 0.8 s: outside the search


def test_coverage_scales_and_unprinted_reference_is_skipped():
    x = _ecg_like()
    ref = x.copy()
    ref[2500:] = np.nan  # only the first 5 s printed
    est = x.copy()
    est[:1250] = np.nan  # estimate returned only half of them
    s = lead_snr(ref, est, FS)
    assert s.coverage == pytest.approx(0.5, abs=0.01)
    assert s.snr_db == pytest.approx(0.5 * s.raw_snr_db, rel=0.02)
    assert lead_snr(np.full(10, np.nan), x[:10], FS) is None
    assert lead_snr(ref, np.full_like(ref, np.nan), FS).snr_db == 0.0


def test_record_snr_and_mean():
    x = np.stack([_ecg_like(seed=i) for i in range(3)], axis=1)
    est = x + 0.05 * np.random.default_rng(3).standard_normal(x.shape)
    est[:, 2] = 0.0
    scores = record_snr(x, est, FS, ["I", "II", "III"])
    assert set(scores) == {"I", "II", "III"}
    assert scores["I"].snr_db > 10 and scores["III"].snr_db < 1
    assert mean_snr(scores) == pytest.approx(np.mean([s.snr_db for s in scores.values()]))
