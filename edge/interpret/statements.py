"""Rhythm and form statements derived from the measurements, with the thresholds used in common
clinical criteria (AHA/ACC/HRS recommendations). Each statement has a short code and a text."""

from __future__ import annotations

from dataclasses import dataclass

from .measure import Measurements

BRADY_BPM = 50.0  # AHA/ACC/HRS 2018 bradycardia guideline (<50/min); PTB-XL labels agree better than with 60
TACHY_BPM = 100.0
IRREGULAR_CV = 0.12  # RR coefficient of variation above which the rhythm is called irregular
IRREGULAR_SUCC = 0.10  # median |successive RR difference| / median RR, ditto
AF_CV = 0.09  # looser irregularity that, without time-locked P waves, suggests AF
AF_SUCC = 0.08
WIDE_QRS_MS = 120.0
LONG_QTC_MS = 460.0  # Bazett; the upper limit for women (men: 450)
LONG_QTCF_MS = (
    450.0  # Fridericia must agree, so Bazett's over-correction at high rates does not flag
)
SHORT_PR_MS = 120.0
LONG_PR_MS = 200.0
LOW_LIMB_MV = 0.5
LOW_PRECORDIAL_MV = 1.0


@dataclass(frozen=True)
class Statement:
    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


def rhythm_statements(m: Measurements) -> list[Statement]:
    """Sinus rhythm / brady / tachy, irregular rhythm (possible AF) from rate, RR and P waves."""
    out: list[Statement] = []
    hr = m.heart_rate_bpm
    if hr is None:
        return [Statement("RATE?", "Heart rate not measurable")]
    cv = m.rr_cv or 0.0
    succ = m.rr_successive or 0.0
    irregular = cv > IRREGULAR_CV or succ > IRREGULAR_SUCC
    p = m.p_present
    if (cv > AF_CV or succ > AF_SUCC) and p is False:
        irregular = True
        out.append(
            Statement(
                "IRREG_AF", "Irregular rhythm without clear P waves - possible atrial fibrillation"
            )
        )
    elif irregular:
        out.append(Statement("IRREG", "Irregular rhythm (sinus arrhythmia or ectopic beats)"))
    elif p:
        if hr < BRADY_BPM:
            out.append(Statement("SBRAD", "Sinus bradycardia"))
        elif hr > TACHY_BPM:
            out.append(Statement("STACH", "Sinus tachycardia"))
        else:
            out.append(Statement("SR", "Sinus rhythm"))
    else:
        kind = "bradycardia" if hr < BRADY_BPM else "tachycardia" if hr > TACHY_BPM else "rhythm"
        out.append(Statement("NOP", f"Regular {kind} without clear P waves"))
    if irregular and p is not None and hr is not None:
        if hr < BRADY_BPM:
            out.append(Statement("BRADY", "Bradycardia"))
        elif hr > TACHY_BPM:
            out.append(Statement("TACHY", "Tachycardia"))
    return out


def form_statements(m: Measurements) -> list[Statement]:
    """Wide QRS, long QTc, PR, low voltage and axis deviation."""
    out: list[Statement] = []
    if m.qrs_ms is not None and m.qrs_ms >= WIDE_QRS_MS:
        out.append(
            Statement("WIDEQRS", f"Wide QRS ({m.qrs_ms:.0f} ms) - possible bundle branch block")
        )
    if (
        m.qtc_bazett_ms is not None
        and m.qtc_bazett_ms > LONG_QTC_MS
        and m.qtc_fridericia_ms is not None
        and m.qtc_fridericia_ms > LONG_QTCF_MS
    ):
        out.append(Statement("LNGQT", f"Long QTc ({m.qtc_bazett_ms:.0f} ms)"))
    if m.pr_ms is not None and m.pr_ms > LONG_PR_MS:
        out.append(Statement("LPR", f"Prolonged PR ({m.pr_ms:.0f} ms) - first-degree AV block"))
    if m.pr_ms is not None and m.pr_ms < SHORT_PR_MS:
        out.append(Statement("SPR", f"Short PR ({m.pr_ms:.0f} ms)"))
    low_limb = m.limb_qrs_max_mv is not None and m.limb_qrs_max_mv < LOW_LIMB_MV
    low_prec = m.precordial_qrs_max_mv is not None and m.precordial_qrs_max_mv < LOW_PRECORDIAL_MV
    if low_limb or low_prec:
        where = (
            "limb and precordial" if low_limb and low_prec else "limb" if low_limb else "precordial"
        )
        out.append(Statement("LVOLT", f"Low QRS voltage in {where} leads"))
    if m.axis_deg is not None:
        a = m.axis_deg
        if -90.0 <= a < -30.0:
            out.append(Statement("LAD", f"Left axis deviation ({a:.0f} deg)"))
        elif 90.0 < a <= 180.0:
            out.append(Statement("RAD", f"Right axis deviation ({a:.0f} deg)"))
        elif -180.0 <= a < -90.0:
            out.append(Statement("EAD", f"Extreme axis deviation ({a:.0f} deg)"))
    return out


def statements(m: Measurements) -> list[Statement]:
    """All statements for a record, rhythm first."""
    return rhythm_statements(m) + form_statements(m)
