"""Wave delineation on multi-lead median beats: QRS onset/offset from the spatial velocity of all
leads, T end by the tangent method per lead, P wave by amplitude and onset per lead. Median beats
average out noise and digitization error, and need only a few beats per lead (2.5 s segments)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.layouts import LEAD_NAMES

PRE_S = 0.40
POST_S = 0.70
QRS_FRACTION = 0.07  # QRS edges: slope activity below this fraction of its peak for 12 ms


@dataclass
class MedianBeats:
    """(m, 12) median beat per lead (NaN where no beat covers), R fiducial at index `r`."""

    beats: np.ndarray
    fs: float
    r: int
    n_beats: np.ndarray  # (12,) beats used per lead


@dataclass
class Delineation:
    """Fiducial points in samples relative to the median beat start (None where not found)."""

    qrs_on: int | None = None
    qrs_off: int | None = None
    t_end: int | None = None
    p_on: int | None = None
    p_amplitude_mv: float | None = None
    p_present: bool = False
    qrs_net_mv: dict[str, float] = field(default_factory=dict)
    qrs_area: dict[str, float] = field(default_factory=dict)
    qrs_ptp_mv: dict[str, float] = field(default_factory=dict)
    baseline: np.ndarray | None = None  # (12,) isoelectric level of each lead


def median_beats(
    sig: np.ndarray, fs: float, peaks: np.ndarray, min_cover: float = 0.5
) -> MedianBeats:
    """Median over beats of each lead, window [R - 0.4 s, R + 0.7 s]; NaN where under half the
    beats covering that lead have a sample."""
    pre, post = int(PRE_S * fs), int(POST_S * fs)
    m = pre + post
    n = sig.shape[0]
    out = np.full((m, sig.shape[1]), np.nan)
    counts = np.zeros(sig.shape[1], int)
    for k in range(sig.shape[1]):
        wins = []
        for p in peaks:
            a, b = p - pre, p + post
            w = np.full(m, np.nan)
            lo, hi = max(a, 0), min(b, n)
            w[lo - a : hi - a] = sig[lo:hi, k]
            # a beat counts for this lead only if the lead shows its QRS
            core = w[pre - int(0.05 * fs) : pre + int(0.05 * fs)]
            if np.isfinite(core).all():
                wins.append(w)
        if not wins:
            continue
        W = np.stack(wins)
        cnt = np.isfinite(W).sum(axis=0)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(W, axis=0)
        med[cnt < max(1, int(np.ceil(min_cover * len(wins))))] = np.nan
        out[:, k] = med
        counts[k] = len(wins)
    return MedianBeats(out, fs, pre, counts)


def _quiet_run_edge(sv: np.ndarray, start: int, stop: int, thr: float, run: int) -> int | None:
    """Walking from `start` towards `stop` (either direction), the first index beginning `run`
    consecutive samples below `thr`."""
    step = 1 if stop >= start else -1
    cnt = 0
    for i in range(start, stop, step):
        if not np.isfinite(sv[i]):
            return None
        cnt = cnt + 1 if sv[i] < thr else 0
        if cnt >= run:
            return i - step * (run - 1)
    return None


def delineate(mb: MedianBeats, rr_s: float | None) -> Delineation:
    """Find QRS onset/offset, T end and P onset on the median beats."""
    fs, r = mb.fs, mb.r
    B = mb.beats
    d = Delineation()
    ms = lambda s: int(round(s * fs / 1000.0))  # noqa: E731
    lo, hi = r - ms(200), r + ms(250)
    cols = [k for k in range(B.shape[1]) if np.isfinite(B[lo:hi, k]).all()]
    if not cols:
        return d
    # slope of each lead covering the QRS, partially normalised (1/sqrt of its QRS peak slope) so
    # a slurred terminal wave in a small lead (RBBB's R' in V1) still counts, then averaged
    X = B[:, cols]
    dv = np.abs(np.gradient(X, axis=0))
    peak_slope = dv[r - ms(80) : r + ms(80)].max(axis=0)
    sv = (dv / np.sqrt(np.maximum(peak_slope, 1e-6))).mean(axis=1)
    pk = r - ms(80) + int(np.nanargmax(sv[r - ms(80) : r + ms(80)]))
    peak = sv[pk]
    quiet = np.nanpercentile(sv[lo:hi], 10)
    thr = quiet + QRS_FRACTION * (peak - quiet)
    run = max(2, ms(12))
    on = _quiet_run_edge(sv, pk, r - ms(180), thr, run)
    off = _quiet_run_edge(sv, pk, min(len(sv), r + ms(220)), thr, run)
    if on is None or off is None:
        return d
    # the quiet run's edge nearest the QRS is where the activity starts/ends
    d.qrs_on, d.qrs_off = int(on), int(off)
    # isoelectric level: the PR segment just before QRS onset
    base = np.full(B.shape[1], np.nan)
    a, b = max(0, d.qrs_on - ms(30)), max(1, d.qrs_on - ms(5))
    for k in range(B.shape[1]):
        seg = B[a:b, k]
        if np.isfinite(seg).all() and len(seg):
            base[k] = float(np.median(seg))
    d.baseline = base
    for k in range(B.shape[1]):
        q = B[d.qrs_on : d.qrs_off + 1, k] - base[k]
        if np.isfinite(q).all() and len(q):
            name = LEAD_NAMES[k]
            d.qrs_net_mv[name] = float(q.max() + q.min())
            d.qrs_area[name] = float(q.sum() / fs)
            d.qrs_ptp_mv[name] = float(q.max() - q.min())
    d.t_end = _t_end(B, base, d.qrs_off, r, fs, rr_s)
    _p_wave(B, base, d, fs)
    return d


def tangent_edge(
    x: np.ndarray, ip: int, direction: int, max_len: int | None = None
) -> float | None:
    """Where a wave peaking at `ip` ends (direction +1) or starts (-1): the tangent at its steepest
    flank (within `max_len` samples of the peak) meets the level where the flank flattens out
    (robust to a shifted baseline)."""
    seg = x[ip:] if direction > 0 else x[: ip + 1][::-1]
    if max_len is not None:
        seg = seg[:max_len]
    if len(seg) < 4:
        return None
    s = np.gradient(seg)
    sign = np.sign(seg[0] - np.median(seg)) or 1.0
    j = int(np.argmin(s * sign))  # steepest return towards the baseline
    if s[j] * sign >= 0:
        return None
    flat = np.flatnonzero(np.abs(s[j:]) < 0.15 * abs(s[j]))
    k = j + (int(flat[0]) if len(flat) else len(s) - 1 - j)
    t = j + (seg[k] - seg[j]) / s[j]
    t = float(np.clip(t, j, k))
    return ip + t if direction > 0 else ip - t


def _t_end(
    B: np.ndarray, base: np.ndarray, qrs_off: int, r: int, fs: float, rr_s: float | None
) -> int | None:
    """Median over leads with a clear T wave of the tangent-method T end."""
    ms = lambda s: int(round(s * fs / 1000.0))  # noqa: E731
    limit = 650.0 if rr_s is None else float(np.clip(rr_s * 1000.0 - 80.0, 280.0, 650.0))
    peak_limit = limit if rr_s is None else min(limit, 0.55 * rr_s * 1000.0 + 100.0)
    a, b = qrs_off + ms(60), min(B.shape[0], r + ms(limit))
    pe = min(b, r + ms(peak_limit))
    if pe - a < ms(40):
        return None
    ends, amps = [], []
    for k in range(B.shape[1]):
        x = B[a:b, k] - base[k]
        if not np.isfinite(x).all() or not np.isfinite(base[k]):
            continue
        ip = int(np.argmax(np.abs(x[: pe - a])))
        amp = abs(float(x[ip]))
        if amp < 0.08 or ip >= len(x) - 3:
            continue
        t = tangent_edge(x, ip, +1, max_len=ms(200))
        if t is None:
            continue
        ends.append(a + t)
        amps.append(amp)
    if not ends:
        return None
    end_at, heights = np.array(ends), np.array(amps)
    strong = heights >= 0.5 * heights.max()
    return int(round(float(np.median(end_at[strong] if strong.sum() >= 2 else end_at))))


def _p_wave(B: np.ndarray, base: np.ndarray, d: Delineation, fs: float) -> None:
    """P amplitude and onset from leads II, I, aVF, V1, V2, III (those present), in [QRS on - 300 ms, -30 ms]."""
    if d.qrs_on is None:  # no QRS onset: nothing to look before
        return

    def ms(s: float) -> int:
        return int(round(s * fs / 1000.0))

    a, b = max(0, d.qrs_on - ms(300)), d.qrs_on - ms(30)
    if b - a < ms(80):
        return
    onsets, amps = [], []
    for name in ("II", "I", "aVF", "V1", "V2", "III"):
        k = LEAD_NAMES.index(name)
        x = B[a:b, k]
        if not np.isfinite(x).all() or not np.isfinite(base[k]):
            continue
        x = x - base[k]
        noise = float(np.std(np.diff(x))) * 2
        ip = int(np.argmax(np.abs(x)))
        amp = float(x[ip])
        if ip < ms(30) or ip > len(x) - ms(10):
            amps.append(0.0)
            continue
        amps.append(abs(amp))
        if abs(amp) < max(0.05, 3 * noise):
            continue
        t = tangent_edge(x, ip, -1, max_len=ms(100))
        if t is not None and t > 0:
            onsets.append(a + t)
    if amps:
        d.p_amplitude_mv = float(np.max(amps))
    if onsets:
        d.p_present = True
        d.p_on = int(round(float(np.median(onsets))))
