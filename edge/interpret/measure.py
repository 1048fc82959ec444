"""Global ECG measurements from a validated record: heart rate and RR regularity from R peaks,
PR/QRS/QT from multi-lead median beats, QTc (Bazett, Fridericia), frontal axis (I and aVF) and
QRS voltages. Everything is None where the record does not allow a trustworthy value."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.layouts import LEAD_NAMES

from .delineate import Delineation, MedianBeats, delineate, median_beats
from .rpeaks import detect_rpeaks
from .signals import Prepared, highpass, lowpass, resample

WORK_FS = 500.0
P_CONSISTENT = 0.65  # median beat-to-template correlation of the P region for 'P waves present'


@dataclass
class Measurements:
    """Numbers for the report (ms, bpm, degrees, mV); None = not measurable on this record."""

    heart_rate_bpm: float | None = None
    rr_ms: float | None = None
    rr_cv: float | None = None
    n_beats: int = 0
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_bazett_ms: float | None = None
    qtc_fridericia_ms: float | None = None
    axis_deg: float | None = None
    p_present: bool | None = None
    p_consistency: float | None = None
    qrs_consistency: float | None = None
    rr_successive: float | None = None
    p_amplitude_mv: float | None = None
    limb_qrs_max_mv: float | None = None
    precordial_qrs_max_mv: float | None = None
    r_peaks_s: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    beats: MedianBeats | None = field(default=None, repr=False)  # for beat features
    delineation: Delineation | None = field(default=None, repr=False)

    @property
    def qtc_ms(self) -> float | None:
        return self.qtc_bazett_ms

    def to_dict(self) -> dict:
        def r(v, nd=0):
            return None if v is None else round(float(v), nd) if nd else int(round(float(v)))

        return {
            "heart_rate_bpm": r(self.heart_rate_bpm),
            "pr_ms": r(self.pr_ms),
            "qrs_ms": r(self.qrs_ms),
            "qt_ms": r(self.qt_ms),
            "qtc_ms": r(self.qtc_bazett_ms),
            "qtc_bazett_ms": r(self.qtc_bazett_ms),
            "qtc_fridericia_ms": r(self.qtc_fridericia_ms),
            "axis_deg": r(self.axis_deg),
            "rr_ms": r(self.rr_ms),
            "rr_cv": r(self.rr_cv, 3),
            "n_beats": int(self.n_beats),
            "p_wave_present": self.p_present,
            "p_consistency": r(self.p_consistency, 2),
            "rr_successive": r(self.rr_successive, 3),
            "qrs_consistency": r(self.qrs_consistency, 2),
            "limb_qrs_max_mv": r(self.limb_qrs_max_mv, 2),
            "precordial_qrs_max_mv": r(self.precordial_qrs_max_mv, 2),
        }


def _axis(d: Delineation) -> float | None:
    """Frontal QRS axis from net QRS areas of I and aVF (derived from II/III when absent)."""
    a = d.qrs_area
    lead_i = a.get("I")
    avf = a.get("aVF")
    if lead_i is None and "II" in a and "III" in a:
        lead_i = a["II"] - a["III"]
    if avf is None and "II" in a and "III" in a:
        avf = (a["II"] + a["III"]) / 2
    if avf is None and "II" in a and lead_i is not None:
        avf = a["II"] - lead_i / 2
    if lead_i is None or avf is None or (abs(lead_i) + abs(avf)) < 1e-6:
        return None
    return float(np.degrees(np.arctan2(avf, lead_i)))


def qrs_consistency(sig: np.ndarray, fs: float, peaks: np.ndarray) -> float | None:
    """Median over leads of the median correlation of each beat's QRS (R +-100 ms) with the lead's
    average QRS: ~0.9+ for a real ECG, low for traces that are mostly digitization error."""
    h = int(0.1 * fs)
    per_lead = []
    for k in range(sig.shape[1]):
        wins = [
            sig[p - h : p + h, k]
            for p in peaks
            if p - h >= 0 and p + h <= sig.shape[0] and np.isfinite(sig[p - h : p + h, k]).all()
        ]
        if len(wins) < 2:
            continue
        W = np.stack(wins)
        W = W - W.mean(axis=1, keepdims=True)
        t = np.median(W, axis=0)
        tn = np.linalg.norm(t)
        if tn < 1e-9:
            continue
        c = [
            float(w @ t / (np.linalg.norm(w) * tn)) if np.linalg.norm(w) > 1e-9 else 0.0 for w in W
        ]
        per_lead.append(float(np.median(c)))
    return float(np.median(per_lead)) if per_lead else None


def p_consistency(sig: np.ndarray, fs: float, peaks: np.ndarray, qrs_on_rel: int) -> float | None:
    """Median correlation of each beat's pre-QRS stretch (P wave region) with the average one, in
    leads II and V1: near 1 for time-locked P waves, low for fibrillatory waves or noise."""
    a_rel = qrs_on_rel - int(0.25 * fs)
    b_rel = qrs_on_rel - int(0.03 * fs)
    cors = []
    for name in ("II", "V1"):
        k = LEAD_NAMES.index(name)
        wins = []
        for p in peaks:
            a, b = p + a_rel, p + b_rel
            if a >= 0 and b <= sig.shape[0] and np.isfinite(sig[a:b, k]).all():
                w = sig[a:b, k] - sig[a:b, k].mean()
                wins.append(w)
        if len(wins) < 3:
            continue
        W = np.stack(wins)
        tmpl = np.median(W, axis=0)
        tn = np.linalg.norm(tmpl)
        if tn < 1e-9:
            continue
        for w in W:
            wn = np.linalg.norm(w)
            cors.append(float(w @ tmpl / (wn * tn)) if wn > 1e-9 else 0.0)
    return float(np.median(cors)) if cors else None


def measure(prep: Prepared) -> Measurements:
    """All measurements of a validated record (see `edge.interpret.signals.validate`)."""
    m = Measurements()
    sig = resample(prep.signals, prep.fs, WORK_FS)
    fs = WORK_FS
    sig = lowpass(highpass(sig, fs), fs, 40.0)
    beats = detect_rpeaks(sig, fs)
    m.n_beats = int(len(beats.peaks))
    m.r_peaks_s = [round(p / fs, 3) for p in beats.peaks]
    rr = beats.rr_intervals(fs)
    if len(rr) >= 2:
        # drop implausible intervals from missed/extra detections before summarising
        med = float(np.median(rr))
        m.rr_ms = med * 1000.0
        m.heart_rate_bpm = 60.0 / med
        m.rr_cv = float(np.std(rr) / np.mean(rr)) if len(rr) >= 3 else None
        m.rr_successive = float(np.median(np.abs(np.diff(rr))) / med) if len(rr) >= 3 else None
    elif len(rr) == 1:
        m.rr_ms = float(rr[0]) * 1000.0
        m.heart_rate_bpm = 60.0 / float(rr[0])
        m.notes.append("heart rate from a single RR interval")
    if m.n_beats < 2:
        m.notes.append("fewer than two beats found; intervals not measured")
        return m
    m.qrs_consistency = qrs_consistency(sig, fs, beats.peaks)
    mb = median_beats(sig, fs, beats.peaks)
    d = delineate(mb, None if m.rr_ms is None else m.rr_ms / 1000.0)
    m.beats, m.delineation = mb, d
    to_ms = 1000.0 / fs
    if d.qrs_on is not None and d.qrs_off is not None:
        qrs = (d.qrs_off - d.qrs_on) * to_ms
        if 40.0 <= qrs <= 250.0:
            m.qrs_ms = qrs
        if d.t_end is not None:
            qt = (d.t_end - d.qrs_on) * to_ms
            if 200.0 <= qt <= 700.0:
                m.qt_ms = qt
        if d.p_on is not None and d.p_present:
            pr = (d.qrs_on - d.p_on) * to_ms
            if 60.0 <= pr <= 450.0:
                m.pr_ms = pr
    m.p_present = d.p_present if d.p_amplitude_mv is not None else None
    if d.qrs_on is not None:
        m.p_consistency = p_consistency(sig, fs, beats.peaks, d.qrs_on - mb.r)
        if m.p_consistency is not None and m.p_consistency < P_CONSISTENT:
            m.p_present = False  # no P wave locked to the QRS (e.g. fibrillatory waves)
            m.pr_ms = None
    m.p_amplitude_mv = d.p_amplitude_mv
    if m.qt_ms is not None and m.rr_ms is not None:
        rr_s = m.rr_ms / 1000.0
        m.qtc_bazett_ms = m.qt_ms / np.sqrt(rr_s)
        m.qtc_fridericia_ms = m.qt_ms / np.cbrt(rr_s)
    m.axis_deg = _axis(d)
    limb = [d.qrs_ptp_mv[n] for n in LEAD_NAMES[:6] if n in d.qrs_ptp_mv]
    prec = [d.qrs_ptp_mv[n] for n in LEAD_NAMES[6:] if n in d.qrs_ptp_mv]
    if len(limb) >= 4:
        m.limb_qrs_max_mv = float(max(limb))
    if len(prec) >= 4:
        m.precordial_qrs_max_mv = float(max(prec))
    return m
