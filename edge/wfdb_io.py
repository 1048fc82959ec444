"""Reading and atomically writing 12-lead WFDB records (mV, NaN where a lead was not printed).

Writes go to a temporary directory on the same filesystem, are fsynced, then renamed into place
(.dat first, .hea last) so a reader never sees a header pointing at a half-written signal file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import fsync_dir, publish_file
from .errors import BadInputError
from .layouts import LEAD_NAMES, canonical_lead

ADC_GAIN = 1000.0  # digital units per mV: 1 uV resolution, +-32 mV range in 16 bits


@dataclass
class EcgRecord:
    """Signals in mV, shape (n_samples, n_leads), NaN for samples not available."""

    signals: np.ndarray
    fs: float
    lead_names: list[str]
    comments: list[str] = field(default_factory=list)

    def lead(self, name: str) -> np.ndarray:
        return self.signals[:, self.lead_names.index(name)]


def write_record(
    stem: str | os.PathLike,
    signals: np.ndarray,
    fs: float,
    lead_names: list[str] | tuple[str, ...] = LEAD_NAMES,
    comments: list[str] | None = None,
) -> Path:
    """Write `stem`.hea/.dat (format 16, adc_gain 1000/mV, baseline 0) atomically; return the .hea path."""
    import wfdb  # imported here: pulls pandas/scipy, not needed by every caller

    stem = Path(stem)
    out_dir = stem.parent.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    sig = np.asarray(signals, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[1] != len(lead_names):
        raise ValueError(f"signals must be (n_samples, {len(lead_names)}), got {sig.shape}")
    n_leads = sig.shape[1]
    # Clip to the representable range; -32768 is WFDB's "missing sample" code.
    sig = np.where(np.isfinite(sig), np.clip(sig, -32.767, 32.767), np.nan)
    d = np.where(np.isfinite(sig), np.round(sig * ADC_GAIN), -32768).astype(np.int16)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{stem.name}.") as tmp:
        wfdb.wrsamp(
            stem.name,
            fs=float(fs),
            units=["mV"] * n_leads,
            sig_name=list(lead_names),
            d_signal=d,
            fmt=["16"] * n_leads,
            adc_gain=[ADC_GAIN] * n_leads,
            baseline=[0] * n_leads,
            comments=list(comments or []),
            write_dir=tmp,
        )
        for ext in (".dat", ".hea"):  # the header last: it must never name a missing .dat
            publish_file(
                Path(tmp) / f"{stem.name}{ext}", out_dir / f"{stem.name}{ext}", sync_dir=False
            )
    fsync_dir(out_dir)
    return out_dir / f"{stem.name}.hea"


def read_record(path: str | os.PathLike) -> EcgRecord:
    """Read a WFDB record (path with or without .hea) into mV with canonical lead names.

    Raises BadInputError with a clear message for a missing or unreadable record."""
    import wfdb

    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".hea", ".dat") else p
    if not stem.with_suffix(".hea").exists():
        raise BadInputError(
            "record_missing",
            f"no WFDB header at {stem}.hea",
            "give the record path without extension, e.g. out/page (for out/page.hea)",
        )
    try:
        rec = wfdb.rdrecord(str(stem))
    except Exception as exc:  # wfdb raises many types for broken files
        raise BadInputError(
            "record_unreadable",
            f"cannot read WFDB record {stem}: {exc}",
            "check that the .hea and .dat files are complete",
        ) from None
    sig = rec.p_signal if rec.p_signal is not None else rec.d_signal.astype(float)
    names = [canonical_lead(n) or n for n in rec.sig_name]
    units = [u or "mV" for u in (rec.units or ["mV"] * len(names))]
    sig = np.array(sig, dtype=np.float64)
    for i, u in enumerate(units):  # normalize uV recordings to mV
        if u.lower() in ("uv", "µv"):
            sig[:, i] /= 1000.0
    return EcgRecord(
        signals=sig, fs=float(rec.fs), lead_names=names, comments=list(rec.comments or [])
    )
