"""Measurements and statements (edge.interpret) on synthetic ECGs with known rate/axis/rhythm,
on partial (page-layout) records, at 100-1000 Hz, and on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from convert.classifier.augment import layout_mask
from convert.synth import synthetic_ecg
from edge.errors import BadInputError
from edge.interpret import measure, statements, validate
from edge.interpret.signals import resample
from edge.layouts import LEAD_NAMES

FS = 500


def _measure(x, fs=FS, names=LEAD_NAMES):
    return measure(validate(x, fs, list(names)))


def _codes(m):
    return {s.code for s in statements(m)}


def _axis_diff(a, b):
    return abs((a - b + 180) % 360 - 180)


@pytest.mark.parametrize("hr", [45, 75, 130, 170])
def test_heart_rate_matches_synthetic(hr):
    m = _measure(synthetic_ecg(10, FS, seed=3, hr_bpm=hr))
    assert m.heart_rate_bpm == pytest.approx(hr, rel=0.05)
    assert m.n_beats >= int(hr / 6) - 1


@pytest.mark.parametrize("axis", [-60, 0, 60, 120])
def test_axis_matches_synthetic(axis):
    m = _measure(synthetic_ecg(10, FS, seed=1, hr_bpm=70, axis_deg=axis))
    assert m.axis_deg is not None and _axis_diff(m.axis_deg, axis) < 25


def test_axis_statements():
    left = _codes(_measure(synthetic_ecg(10, FS, seed=1, hr_bpm=70, axis_deg=-70)))
    right = _codes(_measure(synthetic_ecg(10, FS, seed=1, hr_bpm=70, axis_deg=140)))
    normal = _codes(_measure(synthetic_ecg(10, FS, seed=1, hr_bpm=70, axis_deg=50)))
    assert "LAD" in left and "RAD" in right and not {"LAD", "RAD"} & normal


def test_rate_statements():
    assert "SBRAD" in _codes(_measure(synthetic_ecg(10, FS, seed=2, hr_bpm=42)))
    assert "STACH" in _codes(_measure(synthetic_ecg(10, FS, seed=2, hr_bpm=125)))
    assert "SR" in _codes(_measure(synthetic_ecg(10, FS, seed=2, hr_bpm=72)))


def test_intervals_plausible_and_qtc_formulas():
    m = _measure(synthetic_ecg(10, FS, seed=4, hr_bpm=60))
    for v in (m.pr_ms, m.qrs_ms, m.qt_ms):
        assert v is not None
    assert 60 < m.pr_ms < 300 and 50 < m.qrs_ms < 200 and 250 < m.qt_ms < 600
    rr = m.rr_ms / 1000
    assert m.qtc_bazett_ms == pytest.approx(m.qt_ms / np.sqrt(rr))
    assert m.qtc_fridericia_ms == pytest.approx(m.qt_ms / np.cbrt(rr))
    # QT shortens as the rate rises
    fast = _measure(synthetic_ecg(10, FS, seed=4, hr_bpm=120))
    assert fast.qt_ms < m.qt_ms


def test_wide_qrs_in_bundle_branch_block():
    # the synthesizer's QRS has Gaussian tails (its normal QRS already measures 110-160 ms), so
    # compare each bundle branch block with the normal ECG drawn from the same seed
    for seed in (0, 2):
        normal = _measure(synthetic_ecg(10, FS, seed=seed, hr_bpm=70)).qrs_ms
        for kind in ("lbbb", "rbbb"):
            w = _measure(synthetic_ecg(10, FS, seed=seed, hr_bpm=70, kind=kind))
            assert w.qrs_ms > normal + 20
            assert "WIDEQRS" in _codes(w)


def test_atrial_fibrillation_is_irregular_without_p():
    af = [_measure(synthetic_ecg(10, FS, seed=s, kind="af")) for s in range(4)]
    sinus = [_measure(synthetic_ecg(10, FS, seed=s, kind="normal")) for s in range(4)]
    assert all(_codes(m) & {"IRREG", "IRREG_AF"} for m in af)
    assert sum("IRREG_AF" in _codes(m) for m in af) >= 2
    assert not any(_codes(m) & {"IRREG", "IRREG_AF"} for m in sinus)
    assert all(m.p_present for m in sinus)


def test_low_voltage():
    x = synthetic_ecg(10, FS, seed=5, hr_bpm=70) * 0.25
    assert "LVOLT" in _codes(_measure(x))
    assert "LVOLT" not in _codes(
        _measure(synthetic_ecg(10, FS, seed=5, hr_bpm=70, r_amplitude_mv=1.5))
    )


@pytest.mark.parametrize("layout", ["3x4+1", "3x4", "6x2", "3x4+3"])
def test_partial_records_agree_with_full(layout):
    x = synthetic_ecg(10, FS, seed=6, hr_bpm=80, axis_deg=40)
    full = _measure(x)
    part = _measure(np.where(layout_mask(layout, len(x)), x, np.nan))
    assert part.heart_rate_bpm == pytest.approx(full.heart_rate_bpm, rel=0.05)
    assert _axis_diff(part.axis_deg, full.axis_deg) < 15
    assert abs(part.qrs_ms - full.qrs_ms) <= 20
    assert abs(part.qt_ms - full.qt_ms) <= 40


def test_single_column_of_leads_still_measures_rate():
    x = synthetic_ecg(10, FS, seed=7, hr_bpm=90)
    x[2500:] = np.nan  # only the first half of every lead
    m = _measure(x)
    assert m.heart_rate_bpm == pytest.approx(90, rel=0.06)


@pytest.mark.parametrize("fs", [100, 250, 360, 1000])
def test_sampling_rates(fs):
    x = synthetic_ecg(10, FS, seed=8, hr_bpm=66, axis_deg=30)
    ref = _measure(x)
    m = _measure(resample(x, FS, fs), fs=fs)
    assert m.heart_rate_bpm == pytest.approx(ref.heart_rate_bpm, rel=0.03)
    assert _axis_diff(m.axis_deg, ref.axis_deg) < 10
    assert abs(m.qt_ms - ref.qt_ms) <= 30


def test_noise_and_baseline_wander():
    x = synthetic_ecg(10, FS, seed=9, hr_bpm=75)
    rng = np.random.default_rng(0)
    t = np.arange(len(x)) / FS
    noisy = x + rng.normal(0, 0.05, x.shape) + 0.8 * np.sin(2 * np.pi * 0.3 * t)[:, None]
    m = _measure(noisy)
    assert m.heart_rate_bpm == pytest.approx(75, rel=0.05)


def test_lead_names_are_canonicalised_and_reordered():
    x = synthetic_ecg(10, FS, seed=10, hr_bpm=70)
    order = [5, 0, 3, 1, 2, 4, 11, 10, 9, 8, 7, 6]
    names = [LEAD_NAMES[i].upper() for i in order]  # 'AVF', 'I', ...
    p = validate(x[:, order], FS, names)
    np.testing.assert_allclose(p.signals, x)


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda x: (x, 50, LEAD_NAMES), "bad_fs"),
        (lambda x: (x, float("nan"), LEAD_NAMES), "bad_fs"),
        (lambda x: (x, FS, ["a"] * 12), "lead_names"),
        (lambda x: (x, FS, LEAD_NAMES[:6]), "bad_shape"),
        (lambda x: (np.full_like(x, np.nan), FS, LEAD_NAMES), "no_signal"),
        (lambda x: (np.full_like(x, np.inf), FS, LEAD_NAMES), "no_signal"),
        (lambda x: (np.zeros_like(x) + 0.3, FS, LEAD_NAMES), "flat_signal"),
        (lambda x: (x * 1000, FS, LEAD_NAMES), "bad_units"),
        (lambda x: (x[:50], FS, LEAD_NAMES), "too_short"),
        (lambda x: ([["a"] * 12] * 100, FS, LEAD_NAMES), "bad_signals"),
    ],
)
def test_bad_input_gives_clear_error(make, code):
    x = synthetic_ecg(10, FS, seed=11)
    with pytest.raises(BadInputError) as ei:
        validate(*make(x))
    assert ei.value.code == code and ei.value.hint


def test_partly_bad_leads_are_dropped_with_warning():
    x = synthetic_ecg(10, FS, seed=12, hr_bpm=70)
    x[:, 3] = 0.0  # flat lead
    x[100:200, 4] = np.inf  # some infinities
    p = validate(x, FS, LEAD_NAMES)
    assert not np.isfinite(p.signals[:, 3]).any()
    assert any("flat" in w for w in p.warnings) and any("infinite" in w for w in p.warnings)
    assert measure(p).heart_rate_bpm == pytest.approx(70, rel=0.05)


def test_unknown_extra_channel_is_ignored():
    x = synthetic_ecg(10, FS, seed=13, hr_bpm=70)
    extra = np.concatenate([x, np.zeros((len(x), 1))], axis=1)
    p = validate(extra, FS, [*LEAD_NAMES, "RESP"])
    assert any("RESP" in w for w in p.warnings)


def test_noise_only_gives_no_crash():
    rng = np.random.default_rng(1)
    m = _measure(rng.normal(0, 0.2, (5000, 12)))
    d = m.to_dict()
    assert set(d) >= {"heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg"}


def test_lead_major_and_long_recordings_are_accepted():
    x = synthetic_ecg(10, FS, seed=14, hr_bpm=70)
    p = validate(x.T, FS, LEAD_NAMES)
    assert p.signals.shape == x.shape and p.warnings
    long = validate(np.tile(x, (15, 1)), FS, LEAD_NAMES)
    assert long.duration_s == pytest.approx(120.0) and any(
        "first 120 s" in w for w in long.warnings
    )


@pytest.mark.needs_data
def test_real_ptbxl_rhythm_and_width_statements():
    """On real PTB-XL records (folds 9-10): AF is called irregular without P, bundle branch blocks
    wide, and sinus-rhythm records mostly get a sinus statement."""
    from pathlib import Path

    from convert.classifier.data import load_meta
    from edge.wfdb_io import read_record

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptbxl500"
    if not (data / "ptbxl_database.csv").is_file():
        pytest.skip(f"PTB-XL data not found at {data}")
    metas = [m for m in load_meta(data) if m.fold in (9, 10)]
    got = {"AFIB": [], "BBB": [], "SR": []}
    for m in metas:
        codes = set(m.scp_codes)
        key = (
            "AFIB"
            if "AFIB" in codes
            else "BBB"
            if codes & {"CLBBB", "CRBBB"}
            else "SR"
            if codes == {"NORM", "SR"}
            else None
        )
        if key is None or (key == "SR" and len(got["SR"]) >= 25):
            continue
        rec = read_record(data / m.path_hr)
        got[key].append(_codes(measure(validate(rec.signals, rec.fs, rec.lead_names))))
    assert got["AFIB"] and sum("IRREG_AF" in c for c in got["AFIB"]) >= len(got["AFIB"]) / 2
    assert got["BBB"] and sum("WIDEQRS" in c for c in got["BBB"]) >= 0.75 * len(got["BBB"])
    assert sum(bool(c & {"SR", "SBRAD", "STACH"}) for c in got["SR"]) >= 0.85 * len(got["SR"])
