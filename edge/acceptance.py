"""May a digitized reading become a record? The verdict on a DigitizeResult, made after the
digitizer and before anything is saved or interpreted, by the CLI and the daemon alike.

A reading is refused when it is not an ECG (no grid found and little of the page read: pixel
noise, a scene), when too little of the page was read (leads empty: the page cut off, a grey
lower part), or when its limb leads break Einthoven's and Goldberger's laws (true for every ECG
whatever the printer or camera, so a reading that breaks them was misread:
edge.interpret.consistency). `confidence` folds the laws' estimate into the digitizer's own
confidence, so a reading the leads disagree with is never confident. Pixel noise is refused
before the digitizer runs (refuse_noise), which would spend ~500 MB on it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from edge.digitize.confidence import LOW_CONFIDENCE
from edge.errors import BadInputError
from edge.interpret.consistency import MIN_READING_SNR_DB, estimated_snr_db, relation_residuals
from edge.layouts import LAYOUTS, LEAD_NAMES

# A lead counts as read when at least this share of the time its layout prints it was followed
# (a 3x4 column is 2.5 s: half of it still shows a beat or two) ...
MIN_LEAD_COVERAGE = 0.5
# ... and the trace moves at least this much (0.5 mm at 10 mm/mV: a flat line is no lead).
MIN_LEAD_SWING_MV = 0.05
# Leads that must be read for a record: a page with a whole row missing (its top cut off, the
# lower part grey) has 8 and must be retaken; one or two leads lost to glare may stay.
MIN_LEADS_READ = 10
# Without a grid, a reading that covers less than this share of its layout is not an ECG
# (pixel noise reads as a 6x2 page covering ~0.2; real photos without a measured grid ~0.95).
NOT_ECG_MAX_COVERAGE = 0.5
# A reading whose limb leads agree no better than unrelated traces would (relative residual
# >= 1, i.e. an estimate under 0 dB) is refused. Not the digitizer's MIN_READING_SNR_DB (3 dB,
# where it rereads and warns): on the 20 real phone photos of ecg-paper-dev the estimate
# mostly measures the small time offsets between printed rows, which the per-lead SNR forgives:
# 12 of 20 estimate under 3 dB while 10 of those 12 are 5-13 dB true readings; 3 of 20
# estimate under 0 dB (true 0.9, 5.3, 7.8 dB).
LAWS_REFUSE_DB = 0.0
# The laws' estimate -> confidence factor for a reading not refused: 0.5 at LAWS_REFUSE_DB
# rising to 1 at LAWS_FULL_DB (clean scans measure ~30 dB, good phone photos 5-7 dB), 0 below.
LAWS_FULL_DB = 10.0
# Between LAWS_REFUSE_DB and the digitizer's MIN_READING_SNR_DB the leads agree only weakly: such
# a reading is kept only when it covers its page this fully (the real photos above cover
# 0.95-1.0; a checkerboard read as a 12x1 page covers 0.63 at 0.6 dB).
WEAK_LAWS_MIN_COVERAGE = 0.9
# ... and such a reading is never confident: its confidence stays under the digitizer's
# low-confidence line (the record is kept, flagged "check the overlay", and the classifier, which
# refuses under MIN_READING_SNR_DB, does not interpret it).
WEAK_LAWS_MAX_CONFIDENCE = 0.9 * LOW_CONFIDENCE
LAWS_UNCHECKED_FACTOR = 0.5  # the laws could not be measured (limb leads missing or flat)
# Neighbouring pixels of any photo or scan are alike (ECG pages and real photos correlate 0.76
# to 0.95 along a row); in pixel noise they are independent (~0). Under this, the image is noise:
# refused before the digitizer, which spends ~500 MB and 15 s on a 1 MP noise image.
NOISE_MAX_NEIGHBOUR_CORRELATION = 0.2
_NOISE_MIN_STD = 2.0  # a nearly uniform image is the digitizer's "blank", not noise
_NOISE_ROW_STEP = 7  # rows sampled: enough for a stable estimate, cheap on 12 MP
# Row layouts the digitizer refuses a page for (in its BadInputError code) when it found no
# ECG layout; with no grid either, the image is not an ECG.
_NO_LAYOUT_CODES = frozenset({"layout_unknown", "no_traces"})


class Verdict(str, Enum):
    ACCEPTED = "accepted"
    RETAKE = "retake"  # an ECG, but misread or partly unreadable: take the photo again
    NOT_ECG = "not_an_ecg"


@dataclass(frozen=True)
class Acceptance:
    """The verdict on one reading. `reason` is a short code (for logs, JSON, `.reason.txt`),
    `message` the one line a user reads, `confidence` the digitizer's confidence times the
    laws' factor (0 for a refused reading that is not an ECG)."""

    verdict: Verdict
    reason: str
    message: str
    confidence: float
    estimated_snr_db: float | None
    leads_read: int
    coverage: float
    missing_leads: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.ACCEPTED

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "message": self.message,
            "confidence": round(float(self.confidence), 3),
            "estimated_snr_db": None
            if self.estimated_snr_db is None
            else round(self.estimated_snr_db, 1),
            "leads_read": self.leads_read,
            "coverage": round(float(self.coverage), 3),
            "missing_leads": list(self.missing_leads),
        }

    def to_error(self) -> BadInputError:
        """The refusal as the BadInputError the CLI and the daemon report (exit code 2)."""
        hint = (
            "photograph an ECG printout, flat, filling most of the frame, in focus"
            if self.verdict is Verdict.NOT_ECG
            else "photograph the whole page flat, in focus, evenly lit and without glare"
        )
        return BadInputError(self.reason, self.message, hint)


def laws_factor(snr_db: float | None) -> float:
    """0..1 from the limb-lead laws' estimated SNR: 0 under LAWS_REFUSE_DB, then 0.5 rising to 1
    at LAWS_FULL_DB; LAWS_UNCHECKED_FACTOR when they could not be measured."""
    if snr_db is None or not np.isfinite(snr_db):
        return LAWS_UNCHECKED_FACTOR
    if snr_db < LAWS_REFUSE_DB:
        return 0.0
    rise = (snr_db - LAWS_REFUSE_DB) / (LAWS_FULL_DB - LAWS_REFUSE_DB)
    return float(0.5 + 0.5 * min(1.0, rise))


def lead_coverage(signals: np.ndarray, layout: str, lead_names=LEAD_NAMES) -> dict[str, float]:
    """Per lead, the share of the time its layout prints it that holds a moving trace (0..1)."""
    sig = np.asarray(signals, dtype=np.float64)
    lay = LAYOUTS.get(layout)
    printed: dict[str, float] = {}
    for row in lay.all_rows() if lay else ():
        for name in row:  # a lead printed twice (its segment and a rhythm strip): the longer
            printed[name] = max(printed.get(name, 0.0), 1.0 / len(row))
    out = {}
    for j, name in enumerate(lead_names):
        col = sig[:, j] if j < sig.shape[1] else np.array([])
        ok = np.isfinite(col)
        share = float(ok.mean()) if col.size else 0.0
        expect = printed.get(name, 1.0)
        swing = float(np.ptp(col[ok])) if ok.sum() > 1 else 0.0
        out[name] = min(1.0, share / expect) if swing >= MIN_LEAD_SWING_MV else 0.0
    return out


def _grid_found(result) -> bool:
    grid = (result.details or {}).get("page", {}).get("grid", {})
    return grid.get("source") == "grid"


def judge_reading(result) -> Acceptance:
    """The verdict on a DigitizeResult: ACCEPTED, RETAKE (misread or partly read) or NOT_ECG."""
    sig = np.asarray(result.signals, dtype=np.float64)
    names = list(result.lead_names)
    snr = estimated_snr_db(relation_residuals(sig, float(result.fs), names))
    cov = lead_coverage(sig, result.layout, names)
    coverage = float(np.mean(list(cov.values()))) if cov else 0.0
    missing = tuple(n for n, c in cov.items() if c < MIN_LEAD_COVERAGE)
    n_read = len(cov) - len(missing)
    conf = float(result.confidence) * laws_factor(snr)
    if not np.isfinite(conf):
        conf = 0.0

    def verdict(v: Verdict, reason: str, message: str, confidence: float) -> Acceptance:
        return Acceptance(v, reason, message, confidence, snr, n_read, coverage, missing)

    if n_read == 0 or (not _grid_found(result) and coverage < NOT_ECG_MAX_COVERAGE):
        return verdict(
            Verdict.NOT_ECG,
            "not_an_ecg",
            "not an ECG: no ECG grid and no ECG traces found in the image",
            0.0,
        )
    if n_read < MIN_LEADS_READ:
        return verdict(
            Verdict.RETAKE,
            "too_few_leads",
            f"retake: only {n_read} of 12 leads could be read (missing {', '.join(missing)}): "
            "part of the page is cut off, grey or unreadable",
            min(conf, 0.1),
        )
    if snr is None:
        return verdict(
            Verdict.RETAKE,
            "leads_unchecked",
            "retake: the limb leads could not be checked against each other, so the reading "
            "cannot be trusted",
            min(conf, 0.1),
        )
    if snr < LAWS_REFUSE_DB:
        return verdict(
            Verdict.RETAKE,
            "leads_disagree",
            f"retake: the leads do not agree with each other (limb-lead laws: estimated reading "
            f"SNR {snr:.1f} dB, under {LAWS_REFUSE_DB:g} dB): the traces were misread",
            conf,
        )
    if snr < MIN_READING_SNR_DB and coverage < WEAK_LAWS_MIN_COVERAGE:
        return verdict(
            Verdict.RETAKE,
            "leads_disagree",
            f"retake: the leads hardly agree with each other (limb-lead laws: estimated reading "
            f"SNR {snr:.1f} dB) and only {coverage:.0%} of the printed traces were read",
            conf,
        )
    if snr < MIN_READING_SNR_DB:
        conf = min(conf, WEAK_LAWS_MAX_CONFIDENCE)
    return verdict(Verdict.ACCEPTED, "accepted", "accepted", conf)


def neighbour_correlation(image: np.ndarray) -> float | None:
    """Correlation of horizontally adjacent grey pixels over every few rows (None: uniform)."""
    rows = np.asarray(image[::_NOISE_ROW_STEP], dtype=np.float32)
    g = rows.mean(axis=2) if rows.ndim == 3 else rows
    a, b = g[:, :-1].ravel(), g[:, 1:].ravel()
    sa, sb = float(a.std()), float(b.std())
    if min(sa, sb) < _NOISE_MIN_STD:
        return None
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def refuse_noise(image: np.ndarray) -> BadInputError | None:
    """The refusal for an image that is pixel noise (not an ECG), found before any digitizing;
    None for any other image."""
    c = neighbour_correlation(image)
    if c is None or c >= NOISE_MAX_NEIGHBOUR_CORRELATION:
        return None
    return BadInputError(
        "not_an_ecg",
        "not an ECG: the image is random pixel noise",
        "photograph an ECG printout, flat, filling most of the frame, in focus",
    )


def explain_refusal(exc: BadInputError, image: np.ndarray | None) -> BadInputError:
    """The digitizer's refusal as the user should read it: "no standard layout" or "no traces"
    on an image without an ECG grid means the image is not an ECG (a scene, a document)."""
    if exc.code not in _NO_LAYOUT_CODES or image is None:
        return exc
    try:
        from edge.digitize.page import rectify_page

        has_grid = rectify_page(image).grid.source == "grid"
    except Exception:  # the explanation is best effort: keep the digitizer's own message
        return exc
    if has_grid:
        return exc
    return BadInputError(
        "not_an_ecg",
        "not an ECG: no ECG grid and no ECG page layout found in the image",
        "photograph an ECG printout, flat, filling most of the frame, in focus",
    )
