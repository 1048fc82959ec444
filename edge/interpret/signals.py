"""Validate a recording and bring it to one canonical form: 12 columns in `LEAD_NAMES` order, mV,
NaN where a lead (or part of it) is absent, at a fixed rate. Resampling and filtering work run by
run over the finite stretches, so a 3x4+1 page (2.5 s per lead, lead II for 10 s) keeps its gaps."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np

from edge.errors import BadInputError
from edge.layouts import LEAD_NAMES, canonical_lead

MIN_FS = 100.0
MAX_FS = 2000.0
FLAT_MV = 0.01  # a lead whose finite part spans less than this (mV) carries no ECG
MAX_SECONDS = 120.0  # longer recordings are cut (a resting ECG is 10 s)
MIN_RUN_S = 0.4  # finite stretches shorter than this are dropped (too short to filter or measure)


@dataclass
class Prepared:
    """A validated recording: `signals` (n, 12) mV in `LEAD_NAMES` order at `fs`, NaN where absent."""

    signals: np.ndarray
    fs: float
    warnings: list[str] = field(default_factory=list)

    @property
    def present(self) -> np.ndarray:
        """(n, 12) bool: where each lead has a sample."""
        return np.isfinite(self.signals)

    @property
    def duration_s(self) -> float:
        return self.signals.shape[0] / self.fs


def finite_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the True stretches of a 1-D bool array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


UNIT_CHECK_MV = 20.0  # a median |sample| above this is microvolts or ADC units, not mV


def validate(signals, fs, lead_names) -> Prepared:
    """Check shapes, rate, lead names and values; return the canonical 12-lead form at `fs`.

    Raises BadInputError for anything that cannot be read as an ECG (no known lead, flat or all
    non-finite signals, rate outside 100-2000 Hz, values that look like microvolts)."""
    fs = _checked_fs(fs)
    warnings: list[str] = []
    names = [str(n) for n in (lead_names or [])]
    sig = _checked_shape(signals, names, fs, warnings)
    out = _canonical_leads(sig, names, warnings)
    _drop_unusable(out, fs, warnings)
    fin = out[np.isfinite(out)]
    if np.percentile(np.abs(fin), 50) > UNIT_CHECK_MV:
        raise BadInputError(
            "bad_units",
            f"median amplitude {np.median(np.abs(fin)):.0f} is implausible for mV",
            "the signals look like microvolts or ADC units; convert them to mV",
        )
    return Prepared(out, fs, warnings)


def _checked_fs(fs) -> float:
    """The sampling rate as a float within MIN_FS-MAX_FS."""
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise BadInputError(
            "bad_fs", f"sampling rate {fs!r} is not a number", "give fs in Hz, e.g. 500"
        ) from None
    if not np.isfinite(fs) or not MIN_FS <= fs <= MAX_FS:
        raise BadInputError(
            "bad_fs",
            f"sampling rate {fs:g} Hz is outside the supported {MIN_FS:g}-{MAX_FS:g} Hz",
            "record or resample the ECG at 100-1000 Hz (500 Hz is standard)",
        )
    return fs


def _checked_shape(signals, names: list[str], fs: float, warnings: list[str]) -> np.ndarray:
    """The signals as an (n_samples, n_leads) float array of a usable length."""
    try:
        sig = np.array(signals, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(
            "bad_signals",
            "signals are not a numeric array",
            "pass an (n_samples, n_leads) array in mV",
        ) from None
    if sig.ndim == 1:
        sig = sig[:, None]
    if sig.ndim == 2 and sig.shape[1] != len(names) and sig.shape[0] == len(names):
        sig = sig.T  # (n_leads, n_samples) given: accept it
        warnings.append("signals were given lead-major (n_leads, n_samples); transposed")
    if sig.ndim != 2 or sig.shape[1] != len(names):
        raise BadInputError(
            "bad_shape",
            f"signals have shape {list(sig.shape)} but {len(names)} lead names were given",
            "pass an (n_samples, n_leads) array with one name per column",
        )
    if sig.shape[0] < int(MIN_RUN_S * fs):
        raise BadInputError(
            "too_short",
            f"recording is {sig.shape[0] / fs:.2f} s long",
            "at least a few seconds of ECG are needed",
        )
    if sig.shape[0] > MAX_SECONDS * fs:
        warnings.append(
            f"recording is {sig.shape[0] / fs:.0f} s long; the first {MAX_SECONDS:.0f} s are used"
        )
        sig = sig[: int(MAX_SECONDS * fs)]
    return sig


def _canonical_leads(sig: np.ndarray, names: list[str], warnings: list[str]) -> np.ndarray:
    """(n, 12) in LEAD_NAMES order, NaN for leads not given and for infinite samples."""
    out = np.full((sig.shape[0], len(LEAD_NAMES)), np.nan)
    unknown = []
    for j, n in enumerate(names):
        c = canonical_lead(n)
        if c is None:
            unknown.append(n)
            continue
        k = LEAD_NAMES.index(c)
        if np.isfinite(out[:, k]).any():
            warnings.append(f"lead {c} given twice; the first one is used")
            continue
        out[:, k] = sig[:, j]
    if not any(canonical_lead(n) for n in names):
        raise BadInputError(
            "lead_names",
            f"none of the lead names {names[:12]} is a standard ECG lead",
            f"name the columns {', '.join(LEAD_NAMES)}",
        )
    if unknown:
        warnings.append(f"ignored channels with unknown names: {', '.join(unknown[:6])}")
    inf = ~np.isfinite(out) & ~np.isnan(out)
    if inf.any():
        warnings.append(f"{int(inf.sum())} infinite samples treated as missing")
        out[inf] = np.nan
    if not np.isfinite(out).any():
        raise BadInputError(
            "no_signal",
            "the recording has no finite samples in any lead",
            "the digitization found no trace; retake the photo",
        )
    return out


def _drop_unusable(out: np.ndarray, fs: float, warnings: list[str]) -> None:
    """Stretches too short to use and flat leads become NaN (in place); all flat is refused."""
    absent = []
    for k, name in enumerate(LEAD_NAMES):
        col = out[:, k]
        fin = np.isfinite(col)
        if not fin.any():
            continue
        for a, b in finite_runs(fin):
            if b - a < MIN_RUN_S * fs:
                col[a:b] = np.nan
        fin = np.isfinite(col)
        if fin.any() and np.ptp(col[fin]) < FLAT_MV:
            col[:] = np.nan
            absent.append(name)
    if absent:
        warnings.append(f"flat leads treated as missing: {', '.join(absent)}")
    if not np.isfinite(out).any():
        raise BadInputError(
            "flat_signal",
            "every lead is flat (no ECG activity)",
            "check the electrodes/printout; a flat line cannot be interpreted",
        )


def resample(sig: np.ndarray, fs: float, fs_out: float) -> np.ndarray:
    """Resample (n, k) signals run by run (polyphase, anti-aliased); NaN gaps stay NaN."""
    from scipy.signal import resample_poly

    sig = np.asarray(sig, dtype=np.float64)
    if abs(fs - fs_out) < 1e-9:
        return sig.copy()
    ratio = Fraction(fs_out / fs).limit_denominator(1000)
    up, down = ratio.numerator, ratio.denominator
    n_out = int(round(sig.shape[0] * fs_out / fs))
    out = np.full((n_out, sig.shape[1]), np.nan)
    for k in range(sig.shape[1]):
        for a, b in finite_runs(np.isfinite(sig[:, k])):
            seg = sig[a:b, k]
            if b - a < 4:
                continue
            r = resample_poly(seg, up, down, padtype="line")
            a2 = int(round(a * fs_out / fs))
            b2 = min(n_out, a2 + len(r), int(round(b * fs_out / fs)))
            out[a2:b2, k] = r[: b2 - a2]
    return out


@lru_cache(maxsize=32)
def _butter(order: int, cutoff: float, btype: str, fs: float) -> np.ndarray:
    from scipy.signal import butter

    return butter(order, cutoff, btype=btype, fs=fs, output="sos")


def _runs_by_span(sig: np.ndarray) -> dict[tuple[int, int], list[int]]:
    """Finite runs of every column grouped by (start, stop), so leads sharing a span filter together."""
    groups: dict[tuple[int, int], list[int]] = {}
    for k in range(sig.shape[1]):
        for span in finite_runs(np.isfinite(sig[:, k])):
            groups.setdefault(span, []).append(k)
    return groups


def highpass(sig: np.ndarray, fs: float, cutoff: float = 0.5) -> np.ndarray:
    """Remove baseline wander (zero-phase Butterworth high-pass) from each finite run of each lead."""
    from scipy.signal import sosfiltfilt

    sos = _butter(2, cutoff, "highpass", float(fs))
    out = np.array(sig, dtype=np.float64, copy=True)
    for (a, b), cols in _runs_by_span(out).items():
        seg = out[a:b, cols]
        seg = seg - np.median(seg, axis=0)
        pad = min(b - a - 1, int(3 * fs))
        out[a:b, cols] = (
            sosfiltfilt(sos, seg, axis=0, padtype="odd", padlen=pad) if pad > 6 else seg
        )
    return out


def lowpass(sig: np.ndarray, fs: float, cutoff: float) -> np.ndarray:
    """Zero-phase Butterworth low-pass of each finite run (used to suppress noise before delineation)."""
    from scipy.signal import sosfiltfilt

    out = np.array(sig, dtype=np.float64, copy=True)
    if cutoff >= 0.45 * fs:
        return out
    sos = _butter(3, float(cutoff), "lowpass", float(fs))
    for (a, b), cols in _runs_by_span(out).items():
        pad = min(b - a - 1, int(0.5 * fs))
        if pad > 12:
            out[a:b, cols] = sosfiltfilt(sos, out[a:b, cols], axis=0, padtype="odd", padlen=pad)
    return out
