"""Row time origins: calibration pulses found in the trace map when the row's path skipped them,
and rows moved back into time by the limb-lead laws (edge.digitize.rowalign)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convert.synth import synthetic_ecg
from edge.digitize.pulses import find_pulse_in_map
from edge.digitize.rowalign import align_rows, shifted
from edge.layouts import LAYOUTS, LEAD_NAMES

K = 6.0  # px/mm, the digitizer's working resolution
FS = 500.0


def _pulse_map(
    lean_px: int = 0, gap_px: int = 18, height_mm: float = 10.0, width_mm: float = 5.0
) -> tuple[np.ndarray, np.ndarray, int]:
    """A trace map with one row: a pulse (rise, top, fall) ending `gap_px` before a flat trace at
    y=300 that starts at x=200; the sides lean by `lean_px` over their height (a curled page)."""
    prob = np.zeros((400, 800), np.float32)
    foot, top = 300, int(round(300 - height_mm * K))
    xr = 200 - gap_px - int(round(width_mm * K))
    xf = 200 - gap_px
    cv2.line(prob, (xr + lean_px, foot), (xr, top), 1.0, 2)
    cv2.line(prob, (xr, top), (xf, top), 1.0, 2)
    cv2.line(prob, (xf, top), (xf + lean_px, foot), 1.0, 2)
    cv2.line(prob, (200, foot), (799, foot), 1.0, 2)
    y = np.full(800, np.nan)
    y[200:] = foot + 0.5
    return prob, y, xf


@pytest.mark.parametrize("lean", [0, 5])
def test_pulse_apart_from_its_trace_is_found_in_the_map(lean):
    prob, y, xf = _pulse_map(lean_px=lean)
    p = find_pulse_in_map(prob, y, 200, K)
    assert p is not None
    assert abs(p.x_fall - xf) <= 3
    assert p.height_px / K == pytest.approx(10.0, abs=0.5)


@pytest.mark.parametrize("height_mm", [5.0, 20.0])
def test_pulse_height_follows_the_gain(height_mm):
    prob, y, _ = _pulse_map(height_mm=height_mm)
    p = find_pulse_in_map(prob, y, 200, K)
    assert p is not None and p.height_px / K == pytest.approx(height_mm, rel=0.08)


def test_lines_without_sides_are_no_pulse():
    """Grid residue (horizontal strokes above the row) and a 7 mm box (no standard gain) are not
    calibration pulses."""
    prob, y, _ = _pulse_map()
    prob[:, :200] = 0
    for yy in range(200, 290, 30):
        cv2.line(prob, (60, yy), (190, yy), 1.0, 1)
    assert find_pulse_in_map(prob, y, 200, K) is None
    prob2, y2, _ = _pulse_map(height_mm=7.0)
    assert find_pulse_in_map(prob2, y2, 200, K) is None


def _rows(layout: str, seed: int = 3) -> tuple[list[np.ndarray], list[tuple[str, ...]]]:
    """A page's rows as the sampler gives them: each row's segments laid end to end over 10 s."""
    sig = synthetic_ecg(10.0, FS, seed=seed)
    lay = LAYOUTS[layout]
    n = len(sig)
    rows, leads = [], []
    for names in lay.rows:
        row = np.empty(n)
        for c, name in enumerate(names):
            i0, i1 = c * n // len(names), (c + 1) * n // len(names)
            row[i0:i1] = sig[i0:i1, LEAD_NAMES.index(name)]
        rows.append(row)
        leads.append(tuple(names))
    for name in lay.rhythm:
        rows.append(sig[:, LEAD_NAMES.index(name)].copy())
        leads.append((name,))
    return rows, leads


@pytest.mark.parametrize("layout", ["3x4+1", "3x4"])
def test_rows_moved_off_their_origin_are_moved_back(layout):
    rows, leads = _rows(layout)
    err = [9, -14, 6, 0][: len(rows)]  # samples each row reads late
    moved = [shifted(r, -d) for r, d in zip(rows, err)]
    res = align_rows(moved, leads, len(rows[0]), FS)
    assert res.applied and res.after < 0.2 * res.before
    # moved[t + err] = row[t]: read at t + shift, each row is back in time up to one common lag
    # (the page's origin stays where its median row was).
    assert np.ptp(np.array(res.shifts) - np.array(err)) <= 1


def test_rows_in_time_are_left_alone():
    rows, leads = _rows("3x4+1")
    res = align_rows(rows, leads, len(rows[0]), FS)
    assert res.shifts == [0, 0, 0, 0]


def test_layouts_the_laws_cannot_check_are_left_alone():
    rows, leads = _rows("6x2")
    moved = [shifted(r, 7) for r in rows]
    assert not align_rows(moved, leads, len(rows[0]), FS).applied


def test_shifted_reads_later_and_pads_with_nan():
    x = np.arange(6, dtype=float)
    assert np.array_equal(shifted(x, 2)[:4], x[2:]) and np.isnan(shifted(x, 2)[4:]).all()
    assert np.array_equal(shifted(x, -2)[2:], x[:4]) and np.isnan(shifted(x, -2)[:2]).all()


def test_a_foot_apart_from_its_trace_is_found():
    """A pulse, a flat foot 2 mm long, a blank break, then the trace: the trace starts after it;
    a trace running on from the fall has no break."""
    from edge.digitize.pulses import trace_after_break

    prob, y, xf = _pulse_map(gap_px=0)
    p = find_pulse_in_map(prob, y, 200, K)
    assert p is not None and trace_after_break(prob, p, K) is None
    prob2 = np.zeros_like(prob)
    top, foot = int(300 - 10 * K), 300
    cv2.line(prob2, (100, foot), (100, top), 1.0, 2)
    cv2.line(prob2, (100, top), (130, top), 1.0, 2)
    cv2.line(prob2, (130, top), (130, foot), 1.0, 2)
    cv2.line(prob2, (130, foot), (142, foot), 1.0, 2)  # the foot
    cv2.line(prob2, (147, foot), (799, foot), 1.0, 2)  # the trace, after a 4 px break
    y2 = np.full(800, np.nan)
    y2[100:] = foot + 0.5
    p2 = find_pulse_in_map(prob2, y2, 147, K)
    assert p2 is not None and abs(trace_after_break(prob2, p2, K) - 146) <= 2
