"""Round trips of the atomic WFDB writer/reader on real files."""

import os

import numpy as np
import pytest

from edge.errors import BadInputError
from edge.layouts import LAYOUTS, LEAD_NAMES, canonical_lead, get_layout
from edge.wfdb_io import read_record, write_record


def test_round_trip_keeps_values_and_nan(tmp_path):
    rng = np.random.default_rng(0)
    sig = rng.normal(0, 1, size=(5000, 12)).round(3)
    sig[:1250, 0] = np.nan  # a lead printed only for part of the time
    sig[:, 7] = np.nan  # a lead not printed at all
    hea = write_record(tmp_path / "rec", sig, 500, LEAD_NAMES, comments=["source: test"])
    assert hea.exists() and (tmp_path / "rec.dat").exists()
    rec = read_record(tmp_path / "rec")
    assert rec.fs == 500 and rec.lead_names == list(LEAD_NAMES)
    assert np.array_equal(np.isnan(rec.signals), np.isnan(sig))
    ok = ~np.isnan(sig)
    assert np.max(np.abs(rec.signals[ok] - sig[ok])) < 1e-6 + 0.0005  # 1 uV quantisation
    assert "source: test" in rec.comments


def test_write_leaves_no_temp_files(tmp_path):
    write_record(tmp_path / "a", np.zeros((100, 12)), 500)
    assert sorted(os.listdir(tmp_path)) == ["a.dat", "a.hea"]


def test_out_of_range_values_are_clipped_not_wrapped(tmp_path):
    sig = np.zeros((10, 12))
    sig[0, 0] = 100.0
    sig[1, 0] = -100.0
    write_record(tmp_path / "c", sig, 500)
    rec = read_record(tmp_path / "c")
    assert rec.signals[0, 0] == pytest.approx(32.767)
    assert rec.signals[1, 0] == pytest.approx(-32.767)


def test_missing_record_gives_actionable_error(tmp_path):
    with pytest.raises(BadInputError) as err:
        read_record(tmp_path / "nope")
    assert err.value.code == "record_missing" and err.value.hint


def test_truncated_record_is_reported(tmp_path):
    write_record(tmp_path / "t", np.ones((1000, 12)), 500)
    (tmp_path / "t.dat").write_bytes(b"\x00\x01\x02")
    with pytest.raises(BadInputError) as err:
        rec = read_record(tmp_path / "t")
        assert rec.signals.shape[0] == 1000  # only reached if wfdb silently accepted the truncation
    assert err.value.code == "record_unreadable"


def test_layouts_cover_every_lead_once_per_segment_grid():
    for name, layout in LAYOUTS.items():
        leads = [lead for row in layout.rows for lead in row]
        assert sorted(leads) == sorted(LEAD_NAMES), name
        assert all(len(r) == layout.n_cols for r in layout.rows)
    assert get_layout("3x4+3").rhythm == ("V1", "II", "V5")
    with pytest.raises(ValueError, match="unknown layout"):
        get_layout("4x3")


def test_canonical_lead_names():
    assert canonical_lead("AVR") == "aVR"
    assert canonical_lead(" v1 ") == "V1"
    assert canonical_lead("ii") == "II"
    assert canonical_lead("X") is None
