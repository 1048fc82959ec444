"""Leads: the rows' samples named and placed in a 12-lead record. The layout (given, or chosen
from the row count and the rhythm strips, edge.digitize.leads) says which lead each stretch of
each row shows; a lead printed twice (its segment and a rhythm strip) is read from the strip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layouts import LAYOUTS, LEAD_NAMES
from .extract import smooth_samples
from .leads import choose_layout, name_rhythm_leads, top_row_missing
from .rowalign import align_rows, shifted
from .rows import SelectedRows
from .sampling import RowSamples
from .timeaxis import TimeAxis

SEGMENT_GAP_PX = 1.0  # left out each side of a segment boundary (the connector's column)
LEAD_INK = 0.5  # a column shows a lead's ink from this trace-ink fraction
LABEL_ABOVE_PITCH = 0.35  # overlay lead names sit this fraction of the pitch above the row
MISSING_TOP_ROW_CONFIDENCE = 0.6  # layout confidence of a 3x4+1 page read without its top row
MARK_MAX_S = 0.03  # a printed mark at a segment's end (tick, pulse edge) is at most this long
MARK_REF_S = 0.06  # the segment's level beside its end: the median over this stretch beyond
MARK_TOL_MV = 0.1  # samples further than this from that level, from the end on, are the mark
MARK_END_SAMPLES = 3  # this many samples back on the level end the mark


@dataclass
class Leads:
    signals: np.ndarray  # (n_out, 12) mV, float64, NaN where the page shows nothing
    expected: np.ndarray  # (n_out, 12) bool: where the layout prints each lead
    lead_ink: dict[str, list[float]]  # per lead, the ink fraction of each stretch it was read from
    labels: list[tuple[float, float, str]]  # overlay lead names (x, y, name)
    layout: str
    layout_confidence: float
    row_shifts_s: list[float]  # how far each row was moved to obey the limb-lead laws (rowalign)


def name_layout(
    n_rows: int, row_signals: list[np.ndarray], layout: str | None, fs: float, warnings: list[str]
) -> tuple[str, float, int]:
    """(layout name, confidence, rows of the layout missing above the first row found)."""
    if layout:
        return layout, 1.0, 0
    name, conf = choose_layout(n_rows, row_signals)
    if name == "3x4" and top_row_missing(row_signals, fs):
        warnings.append(
            "the top row (I, aVR, V1, V4) was not found: glare washed it out or it is outside "
            "the photo, so those leads are missing; retake the photo with the whole page in view "
            "and no glare"
        )
        return "3x4+1", MISSING_TOP_ROW_CONFIDENCE, 1
    return name, conf, 0


def _mark_length(seg: np.ndarray, max_n: int, ref_n: int, tol: float) -> int:
    """Samples from index 0 (a segment's boundary) that a printed mark occupies: the stretch off
    the segment's own level beside it (the median of the `ref_n` samples beyond `max_n`), ended
    by three samples back on that level, at most `max_n` long. 0 where the trace runs on."""
    ref = seg[max_n : max_n + ref_n]
    ref = ref[np.isfinite(ref)]
    if len(ref) == 0 or len(seg) < max_n + ref_n:
        return 0
    with np.errstate(invalid="ignore"):
        off = ~(np.abs(seg[:max_n] - float(np.median(ref))) <= tol)  # NaN counts as off
    n = 0
    for i, o in enumerate(off):
        if o:
            n = i + 1
        elif i - n >= MARK_END_SAMPLES - 1:
            break
    return n


def segment_samples(
    raw: np.ndarray, cut_start: bool, cut_end: bool, gap: int, sigma: float, fs: float = 500.0
) -> np.ndarray:
    """One lead's segment of a row, low-passed on its own. Where one lead's segment gives way to
    the next, the printer draws a vertical connector (and often a separator tick), not either
    lead's signal: the `gap` samples each side of an inner boundary are left out (NaN: the page
    does not show them), and smoothing across the boundary would mix the two leads. A mark at
    either end (a separator tick, a calibration pulse's edge) that leaves the segment's own level
    and comes back to it within MARK_MAX_S is left out too."""
    seg = raw.copy()
    max_n, ref_n = int(round(MARK_MAX_S * fs)), int(round(MARK_REF_S * fs))
    head = _mark_length(seg, max_n, ref_n, MARK_TOL_MV)
    tail = _mark_length(seg[::-1], max_n, ref_n, MARK_TOL_MV)
    head = max(head, gap) if cut_start else head
    tail = max(tail, gap) if cut_end else tail
    if head:
        seg[:head] = np.nan
    if tail:
        seg[len(seg) - tail :] = np.nan
    return smooth_samples(seg, sigma)


def assemble_leads(
    sel: SelectedRows,
    samples: RowSamples,
    axis: TimeAxis,
    *,
    layout: str | None,
    fs: float,
    warnings: list[str],
) -> Leads:
    """The 12-lead record from the rows' samples."""
    row_sigs, row_raw = samples.signals, samples.raw
    lay_name, lay_conf, skip = name_layout(len(sel.centres), row_sigs, layout, fs, warnings)
    lay = LAYOUTS[lay_name]
    missing = [np.full(len(row_sigs[0]), np.nan)] * skip
    rhythm = name_rhythm_leads(lay, missing + row_sigs, fs) if lay.rhythm else []
    seg_gap = max(1, int(np.ceil(SEGMENT_GAP_PX * fs / axis.px_per_s)))
    all_rows = [*lay.rows, *((r,) for r in rhythm)][skip:]
    n_dur = len(axis.tt)
    moved = align_rows(row_sigs, all_rows[: len(row_sigs)], n_dur, fs)
    if moved.applied:
        row_sigs = [shifted(r, d) for r, d in zip(row_sigs, moved.shifts)]
        row_raw = [shifted(r, d) for r, d in zip(row_raw, moved.shifts)]
    n_out = axis.n_out
    out = np.full((n_out, 12), np.nan, np.float64)
    count = np.zeros((n_out, 12), np.int32)
    expected = np.zeros((n_out, 12), bool)
    acc = np.zeros((n_out, 12), np.float64)
    strip = np.full((n_out, 12), np.nan, np.float64)
    labels = []
    lead_ink: dict[str, list[float]] = {n: [] for n in LEAD_NAMES}
    for r, leads in enumerate(all_rows):
        if r >= len(row_sigs):
            break
        sig = row_sigs[r]
        nc = len(leads)
        for c, name in enumerate(leads):
            i0, i1 = int(np.ceil(c * n_dur / nc)), int(np.ceil((c + 1) * n_dur / nc))
            seg = (
                segment_samples(row_raw[r][i0:i1], c > 0, c < nc - 1, seg_gap, samples.sigma, fs)
                if nc > 1
                else sig[i0:i1]
            )
            j = LEAD_NAMES.index(name)
            ok = np.isfinite(seg)
            acc[i0:i1, j] += np.where(ok, seg, 0.0)
            expected[i0:i1, j] = True
            count[i0:i1, j] += ok
            if nc == 1:
                strip[i0:i1, j] = np.where(ok, seg, strip[i0:i1, j])
            rx = np.nan_to_num(axis.row_xs[r], nan=0.0)
            xa, xb = int(rx[i0]) if i0 < n_dur else 0, int(rx[min(i1, n_dur) - 1]) if i1 > i0 else 0
            ink = sel.traces[r].ink[max(0, xa) : max(0, xb) + 1]
            lead_ink[name].append(float(np.mean(ink >= LEAD_INK)) if len(ink) else 0.0)
            labels.append(
                (
                    rx[i0] if i0 < n_dur else axis.x_t0,
                    sel.centres[r] - LABEL_ABOVE_PITCH * sel.pitch,
                    name,
                )
            )
    has = count > 0
    out[has] = acc[has] / count[has]
    # A lead printed twice (its 2.5 s segment and the 10 s rhythm strip) is read from the strip
    # where it has ink: on a photographed page the two rows' time axes differ by a few ms, and
    # averaging two slightly shifted copies blurs every QRS.
    s_ok = np.isfinite(strip)
    out[s_ok] = strip[s_ok]
    return Leads(
        out, expected, lead_ink, labels, lay_name, lay_conf, [d / fs for d in moved.shifts]
    )
