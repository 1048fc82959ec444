"""Multi-lead R-peak detection that works on partial records: each lead's band-passed slope
energy is normalised by that lead's own scale, then averaged over whichever leads are present at
each instant, so a 3x4 page (three leads per 2.5 s column) gives one continuous detection signal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .signals import _butter, _runs_by_span


@dataclass
class Beats:
    """R-peak sample indices, the detection signal and where it is defined."""

    peaks: np.ndarray  # int sample indices, sorted
    energy: np.ndarray  # combined normalised QRS energy (n,)
    covered: np.ndarray  # (n,) bool: at least one lead present

    def rr_intervals(self, fs: float) -> np.ndarray:
        """RR intervals (s) between consecutive peaks with continuous signal in between."""
        out = []
        for a, b in zip(self.peaks[:-1], self.peaks[1:]):
            if self.covered[a : b + 1].all():
                out.append((b - a) / fs)
        return np.array(out)


def qrs_energy(sig: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(n,) combined QRS energy (each lead's 8-25 Hz slope squared over its 98th percentile,
    averaged over present leads, integrated over 80 ms) and the (n,) coverage mask."""
    from scipy.signal import sosfiltfilt

    n, k = sig.shape
    sos = _butter(2, (8.0, min(25.0, 0.45 * fs)), "bandpass", float(fs))
    e = np.full((n, k), np.nan)
    for (a, b), cols in _runs_by_span(sig).items():
        if b - a < int(0.3 * fs):
            continue
        seg = sig[a:b, cols]
        pad = min(b - a - 1, int(0.5 * fs))
        f = sosfiltfilt(sos, seg - seg.mean(axis=0), axis=0, padtype="odd", padlen=pad)
        d = np.gradient(f, axis=0) ** 2
        # ignore the first/last 60 ms of a run: filter edge transients look like beats
        edge = int(0.06 * fs)
        d[:edge] = d[:edge] * np.linspace(0, 1, min(edge, len(d)))[:, None]
        d[-edge:] = d[-edge:] * np.linspace(1, 0, min(edge, len(d)))[:, None]
        e[a:b, cols] = d
    for j in range(k):
        fin = np.isfinite(e[:, j])
        if fin.sum() > 0:
            scale = np.percentile(e[fin, j], 98)
            e[:, j] = e[:, j] / scale if scale > 0 else np.nan
    covered = np.isfinite(e).any(axis=1)
    with np.errstate(invalid="ignore"):
        cnt = np.isfinite(e).sum(axis=1)
        comb = np.where(
            cnt > 0, np.nansum(np.nan_to_num(e, nan=0.0), axis=1) / np.maximum(cnt, 1), 0.0
        )
    w = max(1, int(0.08 * fs))
    comb = np.convolve(comb, np.ones(w) / w, mode="same")
    return comb, covered


def detect_rpeaks(sig: np.ndarray, fs: float) -> Beats:
    """R peaks of (n, 12) mV signals (NaN where absent) at `fs`."""
    from scipy.ndimage import maximum_filter1d
    from scipy.signal import find_peaks

    energy, covered = qrs_energy(sig, fs)
    if not covered.any() or not np.any(energy > 0):
        return Beats(np.array([], int), energy, covered)
    local_max = maximum_filter1d(energy, size=int(2.5 * fs), mode="nearest")
    floor = 0.08 * np.percentile(energy[covered], 99)
    thr = np.maximum(0.3 * local_max, floor)
    peaks, _ = find_peaks(energy, distance=max(1, int(0.27 * fs)))
    keep = peaks[energy[peaks] >= thr[peaks]]
    # search back in long gaps with half the threshold (missed low-amplitude beats)
    if len(keep) >= 3:
        rr = np.diff(keep)
        med = np.median(rr)
        extra = []
        for a, b in zip(keep[:-1], keep[1:]):
            if b - a > 1.6 * med:
                lo, hi = a + int(0.3 * fs), b - int(0.3 * fs)
                cand = peaks[(peaks > lo) & (peaks < hi)]
                cand = cand[energy[cand] >= 0.5 * thr[cand]]
                if len(cand):
                    extra.append(int(cand[np.argmax(energy[cand])]))
        keep = np.sort(np.concatenate([keep, np.array(extra, int)]))
    return Beats(keep.astype(int), energy, covered)
