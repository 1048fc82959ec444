"""The PhysioNet Challenge 2024 digitization metric: per-lead SNR in dB after the best time shift
(<= +-0.5 s) and offset (<= +-1 mV), over samples present in both, scaled by the fraction of the
reference's printed samples that the estimate returned."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SNR_DB = 60.0  # a perfect copy would be +inf; cap it so means stay finite


@dataclass
class LeadScore:
    snr_db: float  # scaled SNR (what the Challenge averages)
    raw_snr_db: float  # SNR over the overlap before scaling
    coverage: float  # fraction of printed reference samples the estimate returned
    shift_samples: int  # estimate shifted by this many samples (positive: estimate is late)
    offset_mv: float  # added to the estimate


def _xcorr(a: np.ndarray, b: np.ndarray, nfft: int) -> np.ndarray:
    """c[k] = sum_n a[n] * b[n + k] for all lags k, as an FFT product (index k mod nfft)."""
    return np.fft.irfft(np.conj(np.fft.rfft(a, nfft)) * np.fft.rfft(b, nfft), nfft)


def lead_snr(
    ref: np.ndarray,
    est: np.ndarray,
    fs: float,
    *,
    max_shift_s: float = 0.5,
    max_offset_mv: float = 1.0,
) -> LeadScore | None:
    """Score one lead; None when the reference has no printed sample (the lead is not scored)."""
    ref = np.asarray(ref, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    n = max(len(ref), len(est))
    r = np.full(n, np.nan)
    e = np.full(n, np.nan)
    r[: len(ref)] = ref
    e[: len(est)] = est
    mr, me = np.isfinite(r), np.isfinite(e)
    n_ref = int(mr.sum())
    if n_ref == 0:
        return None
    if not me.any():
        return LeadScore(0.0, 0.0, 0.0, 0, 0.0)
    r0, e0 = np.where(mr, r, 0.0), np.where(me, e, 0.0)
    fr, fe = mr.astype(np.float64), me.astype(np.float64)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    # For lag k the estimate sample n+k is compared with reference sample n.
    cnt = _xcorr(fr, fe, nfft)
    s_re = _xcorr(r0, e0, nfft)
    s_r = _xcorr(r0, fe, nfft)
    s_e = _xcorr(fr, e0, nfft)
    s_rr = _xcorr(r0 * r0, fe, nfft)
    s_ee = _xcorr(fr, e0 * e0, nfft)
    k_max = int(round(max_shift_s * fs))
    lags = np.arange(-k_max, k_max + 1)
    idx = lags % nfft
    cnt, s_re, s_r, s_e, s_rr, s_ee = (v[idx] for v in (cnt, s_re, s_r, s_e, s_rr, s_ee))
    cnt = np.round(cnt)
    ok = cnt > 0
    safe = np.where(ok, cnt, 1.0)
    # Best constant offset c for (ref - (est + c)) is mean(ref - est), limited to +-max_offset.
    c = np.clip((s_r - s_e) / safe, -max_offset_mv, max_offset_mv)
    noise = s_rr - 2 * s_re + s_ee - 2 * c * (s_r - s_e) + cnt * c * c
    noise = np.maximum(noise, 0.0)
    signal = np.maximum(s_rr, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = 10 * np.log10(signal / noise)
    snr = np.where(np.isnan(snr), -MAX_SNR_DB, snr)
    snr = np.where(ok, np.clip(snr, -MAX_SNR_DB, MAX_SNR_DB), -np.inf)
    best = int(np.argmax(snr))
    if not np.isfinite(snr[best]):
        return LeadScore(0.0, 0.0, 0.0, 0, 0.0)
    k = int(lags[best])
    # Coverage: printed reference samples that have an estimate at the chosen alignment.
    coverage = float(cnt[best]) / n_ref
    raw = float(snr[best])
    return LeadScore(raw * coverage, raw, coverage, k, float(c[best]))


def record_snr(
    ref: np.ndarray, est: np.ndarray, fs: float, lead_names: list[str] | tuple[str, ...], **kw
) -> dict[str, LeadScore]:
    """Per-lead scores for (n, n_leads) arrays; leads with nothing printed are left out."""
    out: dict[str, LeadScore] = {}
    for j, name in enumerate(lead_names):
        s = lead_snr(
            ref[:, j], est[:, j] if j < est.shape[1] else np.full(len(ref), np.nan), fs, **kw
        )
        if s is not None:
            out[name] = s
    return out


def mean_snr(scores: dict[str, LeadScore]) -> float:
    """Mean scaled SNR over scored leads (NaN when none)."""
    vals = [s.snr_db for s in scores.values()]
    return float(np.mean(vals)) if vals else float("nan")
