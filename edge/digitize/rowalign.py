"""Row time origins by the leads' own laws. On a page printed in segment columns the rows' first
segments show, at the same moments, leads the laws tie together: lead II in the second row and
again on the rhythm strip, Einthoven's II = I + III across the first three rows, and Goldberger's
aVR + aVL + aVF = 0 one column on. A row whose time origin is misplaced (a curled page, a pulse
not found or misread) breaks them by exactly its shift, which is found here and undone before the
leads are cut from the rows."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

MAX_SHIFT_S = 0.15  # a row's origin is searched this far either way (under half the shortest RR)
EDGE_S = 0.08  # samples this close to a segment's ends are left out of the fits (marks, connectors)
MIN_OVERLAP = 0.6  # a fit needs this share of its segment's samples read in every row it uses
KEEP_RESIDUAL = (
    0.8  # shifts are applied only where they leave at most this share of the laws' error
)
GOLDBERGER_SLACK = 1.05  # ...and do not make the augmented leads' law worse than this factor


@dataclass
class RowShifts:
    """Per row (samples): the row's reading at t + shift is what the page shows at t. `before`
    and `after` are the limb-lead laws' mean squared residuals (mV^2) without and with them."""

    shifts: list[int]
    before: float
    after: float

    @property
    def applied(self) -> bool:
        return any(self.shifts)


def shifted(sig: np.ndarray, d: int) -> np.ndarray:
    """`sig` read d samples later (out[t] = sig[t + d]), NaN where that runs off the row."""
    out = np.full(len(sig), np.nan)
    n = len(sig)
    if abs(d) >= n:
        return out
    if d >= 0:
        out[: n - d] = sig[d:]
    else:
        out[-d:] = sig[: n + d]
    return out


def _windows(sig: np.ndarray, i0: int, i1: int, k: int) -> np.ndarray:
    """(2k+1, i1-i0): rows are sig[i0+d : i1+d] for d = -k..k, each less its median (the laws
    hold for the signals, not for each row's baseline), NaN off the row."""
    n = len(sig)
    pad = np.full(n + 2 * k, np.nan)
    pad[k : k + n] = sig
    idx = i0 + np.arange(-k, k + 1)[:, None] + np.arange(i1 - i0)[None, :] + k
    w = pad[np.clip(idx, 0, len(pad) - 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a window off the row: NaN, not 0
        med = np.nanmedian(w, axis=1, keepdims=True)
    return w - med


def _mse(err: np.ndarray, need: int) -> np.ndarray:
    """Mean square over the last axis where at least `need` samples are finite, else inf."""
    ok = np.isfinite(err)
    n = ok.sum(axis=-1)
    s = np.where(ok, err, 0.0)
    with np.errstate(all="ignore"):
        m = (s * s).sum(axis=-1) / n
    return np.where(n >= need, m, np.inf)


def _fit_one(ref: np.ndarray, row: np.ndarray, span: tuple[int, int], k: int) -> int | None:
    """The shift of `row` that best matches `ref` (the same lead) over `span`."""
    i0, i1 = span
    r = _windows(ref, i0, i1, 0)[0]
    err = _mse(_windows(row, i0, i1, k) - r[None, :], int(MIN_OVERLAP * (i1 - i0)))
    return int(np.argmin(err)) - k if np.isfinite(err).any() else None


def _fit_pair(
    ref: np.ndarray, a: np.ndarray, b: np.ndarray, span: tuple[int, int], k: int
) -> tuple[int, int, float] | None:
    """Shifts (da, db) that best make a + b equal `ref` over `span` (Einthoven: I + III = II),
    and the mean squared residual there."""
    i0, i1 = span
    r = _windows(ref, i0, i1, 0)[0]
    wa, wb = _windows(a, i0, i1, k), _windows(b, i0, i1, k)
    need = int(MIN_OVERLAP * (i1 - i0))
    err = np.stack([_mse(wa[i][None, :] + wb - r[None, :], need) for i in range(2 * k + 1)])
    if not np.isfinite(err).any():
        return None
    ia, ib = np.unravel_index(int(np.argmin(err)), err.shape)
    return int(ia) - k, int(ib) - k, float(err[ia, ib])


def _law_error(rows: list[np.ndarray], span: tuple[int, int], signs: tuple[float, ...]) -> float:
    """Mean squared sum of the rows (times `signs`) over `span`: a law's residual."""
    i0, i1 = span
    total = sum(s * _windows(r, i0, i1, 0)[0] for s, r in zip(signs, rows))
    return float(_mse(np.asarray(total)[None, :], int(MIN_OVERLAP * (i1 - i0)))[0])


def align_rows(
    rows: list[np.ndarray],
    row_leads: list[tuple[str, ...]],
    n_dur: int,
    fs: float,
) -> RowShifts:
    """Row shifts that make the limb leads obey their laws, for a layout whose first three rows
    start with I, II, III and go on with aVR, aVL, aVF (3x4, 3x4+1, 3x4+3); a rhythm strip of
    lead II, when printed, sets the reference. No shift (all 0) where the laws cannot be checked
    or would not be kept clearly better."""
    none = RowShifts([0] * len(rows), float("nan"), float("nan"))
    first = [leads[:2] for leads in row_leads[:3]]
    if len(rows) < 3 or first != [("I", "aVR"), ("II", "aVL"), ("III", "aVF")]:
        return none
    k = int(round(MAX_SHIFT_S * fs))
    nc = len(row_leads[0])
    edge = int(round(EDGE_S * fs))
    col0 = (edge, int(n_dur / nc) - edge)
    col1 = (int(n_dur / nc) + edge, int(2 * n_dur / nc) - edge)
    if col0[1] - col0[0] < 2 * k:
        return none
    strip = next((i for i, leads in enumerate(row_leads) if leads == ("II",)), None)
    shifts = [0] * len(rows)
    if strip is not None:
        d2 = _fit_one(rows[strip], rows[1], col0, k)
        if d2 is None:
            return none
        shifts[1] = d2
        ref = rows[strip]
    else:
        ref = rows[1]
    pair = _fit_pair(ref, rows[0], rows[2], col0, k)
    if pair is None:
        return none
    shifts[0], shifts[2], after = pair
    before = _law_error([rows[0], rows[2], ref], col0, (1.0, 1.0, -1.0))
    moved = [shifted(r, d) for r, d in zip(rows, shifts)]
    gold_before = _law_error(rows[:3], col1, (1.0, 1.0, 1.0))
    gold_after = _law_error(moved[:3], col1, (1.0, 1.0, 1.0))
    if not (after <= KEEP_RESIDUAL * before and gold_after <= GOLDBERGER_SLACK * gold_before):
        return RowShifts([0] * len(rows), before, before)
    # Keep the page's time origin where the pulses or the rows' ends put it: the median row.
    mid = int(round(float(np.median(shifts))))
    return RowShifts([d - mid for d in shifts], before, after)
